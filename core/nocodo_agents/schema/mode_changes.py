"""Statements that change how the server reads the statements after them, read from their tokens.

MySQL ``SET sql_mode = '...'`` (``NO_BACKSLASH_ESCAPES``, ``ANSI_QUOTES``),
also when saved in a user variable (``SET @OLD_SQL_MODE = @@SQL_MODE``) and
set back from it, and PostgreSQL ``SET [LOCAL] standard_conforming_strings``.
The splitter (:mod:`nocodo_agents.schema.split`) asks after each ``SET``
which syntax the rest of the script is read under; :data:`_UNREADABLE` means
the text does not say (``SET sql_mode = CONCAT(...)``).
"""

from __future__ import annotations

from dataclasses import replace

from .lexer import IDENTIFIER, PUNCT, STRING, WORD, SqlSyntax

#: The syntax after a statement setting a mode to a value the splitter cannot read.
_UNREADABLE = SqlSyntax("unreadable")


def _assignments(code: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The comma-separated assignments of a ``SET`` (commas inside parentheses belong to values)."""
    found: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for kind, text in code:
        if kind == PUNCT and text == "(":
            depth += 1
        elif kind == PUNCT and text == ")":
            depth -= 1
        elif kind == PUNCT and text == "," and depth == 0:
            found.append([])
            continue
        found[-1].append((kind, text))
    return [a for a in found if a]


def _assigned(assignment: list[tuple[str, str]]) -> tuple[str | None, list[tuple[str, str]]]:
    """``(variable, value tokens)`` of one ``SET`` assignment (``SESSION x = v`` gives ``"x"``), or ``(None, [])``."""
    texts = [text for _, text in assignment]
    scope = texts[0].upper() if texts else ""
    position = 1 if scope in ("SESSION", "LOCAL", "GLOBAL", "PERSIST", "PERSIST_ONLY") and len(texts) > 2 else 0
    if texts[position + 1 : position + 2] not in (["="], [":="]) or assignment[position][0] not in (WORD, IDENTIFIER):
        return None, []
    name = texts[position]
    if position and scope != "SESSION" and scope != "LOCAL":
        name = "GLOBAL " + name
    return name.strip("`"), assignment[position + 2 :]


def _mode_source(value: list[tuple[str, str]]) -> str | None:
    """``"current"`` if ``value`` is the session's own sql_mode (``@@sql_mode``, ``@@SESSION.sql_mode``)."""
    if len(value) == 1 and value[0][0] == WORD:
        name = value[0][1].lower()
        if name in ("@@sql_mode", "@@session.sql_mode", "@@local.sql_mode"):
            return "current"
    return None


def _unquote(literal: str) -> str:
    quote = literal[0]
    return literal[1:-1].replace(quote * 2, quote)


def mysql_set(syntax: SqlSyntax, saved: dict[str, SqlSyntax], code: list[tuple[str, str]]) -> SqlSyntax | None:
    """The syntax after a MySQL ``SET`` (``code``: its tokens): ``None`` if unchanged, :data:`_UNREADABLE` if the text does not say.

    ``saved`` maps user variables holding a saved ``sql_mode`` (``SET @OLD_SQL_MODE = @@SQL_MODE``) to the
    syntax it gives; it is updated as the statement assigns them.
    """
    current, changed = syntax, False
    for assignment in _assignments(code[1:]):
        name, value = _assigned(assignment)
        if name is None:
            continue
        if name.startswith("@") and not name.startswith("@@"):
            source = _mode_source(value)
            if source == "current":
                saved[name.lower()] = current
            else:
                saved.pop(name.lower(), None)
            continue
        if name.lower().lstrip("@").rpartition(".")[2] != "sql_mode" or name.upper().startswith(("@@GLOBAL.", "GLOBAL ")):
            continue
        changed = True
        if len(value) == 1 and value[0][0] == STRING:
            current = (syntax if current is _UNREADABLE else current).with_sql_mode(_unquote(value[0][1]))
        elif len(value) == 1 and value[0][0] == WORD and value[0][1].lower() in saved:
            current = saved[value[0][1].lower()]
        elif len(value) == 1 and value[0][0] == WORD and value[0][1][:1].isalpha() and value[0][1].upper() != "DEFAULT":
            current = (syntax if current is _UNREADABLE else current).with_sql_mode(value[0][1])  # SET sql_mode = ORACLE
        elif _mode_source(value) == "current":
            pass
        else:
            current = _UNREADABLE
    return current if changed and current != syntax else None


def postgresql_set(syntax: SqlSyntax, code: list[tuple[str, str]]) -> SqlSyntax | None:
    """The syntax after a PostgreSQL ``SET [LOCAL] standard_conforming_strings``: ``None`` if unchanged, :data:`_UNREADABLE` if unreadable."""
    words = [text.upper() if kind == WORD else text for kind, text in code]
    position = 2 if words[1:2] in (["LOCAL"], ["SESSION"]) else 1
    if [w.lower() for w in words[position : position + 1]] != ["standard_conforming_strings"]:
        return None
    value = [w.strip("'").lower() for w in words[position + 2 :]]
    if value in (["on"], ["true"], ["yes"], ["1"]):
        new = replace(syntax, backslash_escapes=False)
    elif value in (["off"], ["false"], ["no"], ["0"]):
        new = replace(syntax, backslash_escapes=True)
    else:
        new = _UNREADABLE
    return new if new != syntax else None
