"""Splitting a server dialect's SQL script into statements at top-level semicolons.

Semicolons inside single-quoted strings, double-quoted or backquoted
identifiers, ``--``/``#`` line comments, ``/* */`` block comments,
PostgreSQL dollar quotes (``$tag$ ... $tag$``) and the ``BEGIN ... END``
body of a ``CREATE TRIGGER/PROCEDURE/FUNCTION/EVENT`` (MySQL compound
statements, PostgreSQL ``BEGIN ATOMIC``) and MariaDB's ``BEGIN NOT ATOMIC ... END``
block do not split. Backslash escapes are
honoured inside MySQL strings and PostgreSQL ``E'...'`` strings. There is no
``DELIMITER`` command: it belongs to the mysql client, not the server.
"""

from __future__ import annotations

import re
from typing import List

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_ROUTINE = re.compile(r"^\s*CREATE\b[\s\S]*\b(TRIGGER|PROCEDURE|FUNCTION|EVENT)\b", re.IGNORECASE)
#: MariaDB's ``BEGIN NOT ATOMIC ... END``: a compound statement of its own, outside any routine.
_NOT_ATOMIC = re.compile(r"NOT\s+ATOMIC\b", re.IGNORECASE)
#: ``END IF`` and friends close blocks whose opening words are not counted.
_UNCOUNTED_ENDS = {"IF", "LOOP", "WHILE", "REPEAT"}


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
    start = position = depth = 0
    length = len(sql)
    while position < length:
        char = sql[position]
        if (char.isalpha() or char == "_") and (position == 0 or not (sql[position - 1].isalnum() or sql[position - 1] in "_$")):
            word_match = _WORD.match(sql, position)
            assert word_match is not None
            word = word_match.group(0).upper()
            after = _skip_space(sql, word_match.end())
            following = _WORD.match(sql, after)
            next_word = following.group(0).upper() if following else ""
            opens_transaction = next_word in ("WORK", "TRANSACTION") or sql.startswith(";", after)
            if word == "BEGIN" and not opens_transaction and (depth > 0 or _ROUTINE.match(sql[start:position])):
                depth += 1
            elif word == "BEGIN" and mysql and _NOT_ATOMIC.match(sql, after):  # MariaDB's anonymous block
                depth += 1
            elif word == "CASE" and depth > 0:
                depth += 1
            elif word == "END" and depth > 0 and next_word not in _UNCOUNTED_ENDS:
                depth -= 1
            position = word_match.end()
        elif char == "'":
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
        elif char == ";" and depth == 0:
            statements.append(sql[start:position])
            position += 1
            start = position
        else:
            position += 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if _has_code(s, mysql)]


def _skip_space(sql: str, position: int) -> int:
    while position < len(sql) and sql[position].isspace():
        position += 1
    return position


def _has_code(statement: str, mysql: bool) -> bool:
    """False for text holding only whitespace and comments (MySQL runs ``/*! ... */``: that is code)."""
    if mysql and re.search(r"/\*M?!", statement):
        return True
    text = re.sub(r"/\*.*?\*/", " ", statement, flags=re.S)
    lines = [line.strip() for line in text.splitlines()]
    return any(line and not line.startswith("--") and not (mysql and line.startswith("#")) for line in lines)
