"""What a server migration's statements touch, read from their text: for adoption, conservatively.

On SQLite the database itself reports what a statement writes to, alters or
drops (an authorizer, :mod:`.scratch_sqlite`). PostgreSQL and MySQL have no
such hook, so :func:`touched_names` reads each statement with the lexer
(strings, comments and quoted names are never mistaken for words) and takes
the names it writes to (``INSERT``/``REPLACE``/``MERGE INTO t``,
``UPDATE t``, ``DELETE FROM t``, ``TRUNCATE t``), alters (``ALTER ... t``,
``RENAME TABLE t``, ``CREATE OR REPLACE ... t``) or drops (``DROP ... t``).
Statements that change no object and are harmless twice (``SET``,
``COMMENT``, ``GRANT``, ``REVOKE``, ``ANALYZE``, ``VACUUM``, ``REINDEX``) and
plain ``CREATE`` statements touch nothing existing. Anything else (``SELECT``
or ``CALL`` of a function that may write, a ``DO`` block, a ``WITH`` that may
modify, a multi-table ``UPDATE``/``DELETE``) makes the answer unknown
(``None``), and adoption then counts the migration as one it cannot judge.
Names are compared bare (a schema or database qualifier dropped), so a
qualified name can only make adoption more careful.
"""

from __future__ import annotations

from collections.abc import Sequence

from .code_words import code_words, qualified_name

__all__ = ["touched_names"]

#: Statements that touch no existing object, or whose repetition is harmless.
_HARMLESS = frozenset({"SET", "COMMENT", "GRANT", "REVOKE", "ANALYZE", "VACUUM", "REINDEX"})
#: Words that may stand between a statement's verb and the name it writes to.
_MODIFIERS = frozenset({"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "QUICK", "ONLY", "ONLINE", "OFFLINE", "TABLE", "CONCURRENTLY", "TEMPORARY"})
#: Kinds of object a DROP or ALTER names (after an optional modifier).
_KINDS = frozenset(
    {"TABLE", "VIEW", "INDEX", "TRIGGER", "SEQUENCE", "FUNCTION", "PROCEDURE", "TYPE", "DOMAIN", "EVENT", "MATERIALIZED"}
)


def touched_names(statements: Sequence[str], dialect: str) -> frozenset[str] | None:
    """The bare, lower-cased names ``statements`` write to, alter or drop; ``None`` if one cannot be read."""
    names: set[str] = set()
    for statement in statements:
        words = list(code_words(statement, dialect))
        if not words:
            continue
        found = _statement_names(words)
        if found is None:
            return None
        names.update(name.lower() for name in found)  # as adoption compares them
    return frozenset(names)


def _statement_names(words: list[str]) -> list[str] | None:
    """The names one statement touches; ``None`` when it cannot be told."""
    upper = [w.upper() for w in words]
    verb = upper[0]
    if verb in _HARMLESS:
        return []
    if verb == "CREATE":
        return _replaced(words, upper)
    if verb in ("INSERT", "REPLACE", "MERGE"):
        position = _skip(upper, 1, _MODIFIERS | {"INTO"})
        return _single(words, position)
    if verb == "UPDATE":
        return _written_then(words, upper, _skip(upper, 1, _MODIFIERS), ("SET",))
    if verb == "DELETE":
        position = _skip(upper, 1, _MODIFIERS)
        if upper[position : position + 1] != ["FROM"]:
            return None  # MySQL's multi-table DELETE t1, t2 FROM ...
        return _written_then(words, upper, _skip(upper, position + 1, _MODIFIERS), ("WHERE", "USING", "RETURNING", "ORDER", "LIMIT", "AS", ";", ""))
    if verb == "TRUNCATE":
        return _name_list(words, upper, _skip(upper, 1, _MODIFIERS))
    if verb in ("ALTER", "DROP"):
        return _altered_or_dropped(words, upper)
    if verb == "RENAME":
        return _renamed(words, upper)
    return None


def _skip(upper: list[str], position: int, words: frozenset[str]) -> int:
    while position < len(upper) and upper[position] in words:
        position += 1
    return position


def _name(words: list[str], position: int) -> tuple[str | None, int]:
    """The bare name starting at ``position`` (``s.t``, ``"s"."T"``, ```t```) and the position after it."""
    parts, position = qualified_name(words, position)
    return (parts[-1] if parts else None), position


def _single(words: list[str], position: int) -> list[str] | None:
    name, _ = _name(words, position)
    return None if name is None else [name]


def _written_then(words: list[str], upper: list[str], position: int, allowed: Sequence[str]) -> list[str] | None:
    """The one table written at ``position``, if what follows it (after an alias) is one of ``allowed``."""
    name, after = _name(words, position)
    if name is None:
        return None
    if upper[after : after + 1] == ["AS"]:
        after += 2
    elif after < len(upper) and upper[after] not in allowed and upper[after] not in (",", "JOIN"):
        after += 1  # a bare alias
    following = upper[after] if after < len(upper) else ""
    return [name] if following in allowed else None


def _name_list(words: list[str], upper: list[str], position: int) -> list[str] | None:
    """Comma-separated names from ``position``; ``... ON t`` adds ``t`` and ``t.name`` (MySQL's DROP INDEX i ON t)."""
    names: list[str] = []
    while True:
        name, position = _name(words, position)
        if name is None:
            return None if not names else names
        names.append(name)
        if position < len(words) and words[position] == "(":  # DROP FUNCTION f(int): its argument list
            depth = 0
            while position < len(words):
                depth += {"(": 1, ")": -1}.get(words[position], 0)
                position += 1
                if depth == 0:
                    break
        if upper[position : position + 1] == [","]:
            position += 1
            continue
        if upper[position : position + 1] == ["ON"]:
            table, _ = _name(words, position + 1)
            if table is not None:
                names += [table] + [f"{table}.{n}" for n in names]
        return names


def _altered_or_dropped(words: list[str], upper: list[str]) -> list[str] | None:
    position = _skip(upper, 1, _MODIFIERS - {"TABLE"})
    if position >= len(upper) or upper[position] not in _KINDS:
        return None
    position += 2 if upper[position] == "MATERIALIZED" else 1
    position = _skip(upper, position, frozenset({"CONCURRENTLY", "ONLY"}))
    if upper[position : position + 2] == ["IF", "EXISTS"]:
        position += 2
    position = _skip(upper, position, frozenset({"ONLY"}))
    return _name_list(words, upper, position)


def _renamed(words: list[str], upper: list[str]) -> list[str] | None:
    """``RENAME TABLE a TO b, c TO d``: the renamed tables."""
    if upper[1:2] not in (["TABLE"], ["TABLES"]):
        return None
    names: list[str] = []
    for position in range(2, len(words)):
        if position == 2 or upper[position - 1] == ",":
            name, _ = _name(words, position)
            if name is None:
                return None
            names.append(name)
    return names


def _replaced(words: list[str], upper: list[str]) -> list[str] | None:
    """``CREATE OR REPLACE [kind] name``: the replaced object; a plain CREATE touches nothing existing."""
    if upper[1:3] != ["OR", "REPLACE"]:
        return []
    position = 3
    while position < len(upper) and upper[position] not in _KINDS:
        position += 1  # ALGORITHM = MERGE, DEFINER = x, TEMPORARY...
    if position >= len(upper):
        return None
    position += 2 if upper[position] == "MATERIALIZED" else 1
    if upper[position : position + 3] == ["IF", "NOT", "EXISTS"]:
        position += 3
    return _single(words, position)
