"""Splitting a server dialect's SQL script into statements at top-level semicolons.

Semicolons inside single-quoted strings, double-quoted or backquoted
identifiers, ``--``/``#`` line comments, ``/* */`` block comments and
PostgreSQL dollar quotes (``$tag$ ... $tag$``) do not split. Backslash
escapes are honoured inside MySQL strings and PostgreSQL ``E'...'`` strings.
"""

from __future__ import annotations

import re
from typing import List

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")


def _skip_quoted(sql: str, start: int, quote: str, backslash: bool) -> int:
    """Index just past the quoted text opening at ``start``."""
    position = start + 1
    while position < len(sql):
        char = sql[position]
        if backslash and char == "\\":
            position += 2
            continue
        if char == quote:
            if position + 1 < len(sql) and sql[position + 1] == quote:  # doubled quote
                position += 2
                continue
            return position + 1
        position += 1
    return position


def split_statements(sql: str, dialect: str) -> List[str]:
    """The statements of ``sql`` for ``dialect`` (``"postgresql"`` or ``"mysql"``), stripped, in order."""
    mysql = dialect == "mysql"
    statements: List[str] = []
    start = position = 0
    length = len(sql)
    while position < length:
        char = sql[position]
        if char == "'":
            escaped = mysql or (position > 0 and sql[position - 1] in "eE" and not sql[position - 2 : position - 1].isalnum())
            position = _skip_quoted(sql, position, "'", backslash=escaped)
        elif char == '"':
            position = _skip_quoted(sql, position, '"', backslash=mysql)
        elif char == "`" and mysql:
            position = _skip_quoted(sql, position, "`", backslash=False)
        elif sql.startswith("--", position) or (mysql and char == "#"):
            end = sql.find("\n", position)
            position = length if end < 0 else end + 1
        elif sql.startswith("/*", position):
            end = sql.find("*/", position + 2)
            position = length if end < 0 else end + 2
        elif char == "$" and not mysql:
            match = _DOLLAR_TAG.match(sql, position)
            if match and not (position > 0 and (sql[position - 1].isalnum() or sql[position - 1] == "_")):
                end = sql.find(match.group(0), match.end())
                position = length if end < 0 else end + len(match.group(0))
            else:
                position += 1
        elif char == ";":
            statements.append(sql[start:position])
            position += 1
            start = position
        else:
            position += 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if _has_code(s, mysql)]


def _has_code(statement: str, mysql: bool) -> bool:
    """False for text holding only whitespace and comments."""
    text = re.sub(r"/\*.*?\*/", " ", statement, flags=re.S)
    lines = [line.strip() for line in text.splitlines()]
    return any(line and not line.startswith("--") and not (mysql and line.startswith("#")) for line in lines)
