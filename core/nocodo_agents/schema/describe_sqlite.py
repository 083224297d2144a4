"""A flat, normalized description of a SQLite schema, for comparing two schemas.

:func:`describe_sqlite_schema` maps a key naming each schema element to a
text describing it::

    "table agent_sessions"                    -> "table"
    "column agent_sessions.status"            -> "TEXT NOT NULL DEFAULT 'running'"
    "check agent_sessions: status IN (...)"   -> "check"
    "index idx_agent_messages_session_created" -> "ON agent_messages (session_id, created_at)"
    "unique agent_x (a, b)"                   -> "unique"
    "foreign key agent_messages (session_id)" -> "REFERENCES agent_sessions (id) ON UPDATE NO ACTION ON DELETE CASCADE"
    "view v" / "trigger t"                    -> their CREATE statement, normalized

Most facts come from what SQLite reports (``pragma_table_xinfo``,
``pragma_index_list``, ``pragma_index_xinfo``, ``pragma_foreign_key_list``);
what it does not is read from the CREATE statement, and expressions and
statements are normalized (:mod:`.sqlite_text`). The key grammar is
:mod:`.keys`'.

Names in keys are written bare when they are plain ASCII identifiers and in
double quotes otherwise (``column "my table".x``), so keys parse back
unambiguously: :func:`owning_object` does that to tell which table or view a
key belongs to.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..history import HISTORY_TABLE
from .sqlite_text import (
    TableText,
    Token,
    key_name,
    name_of,
    normalize,
    normalized_statement,
    parenthesised_after,
    read_table_sql,
    render,
    split_commas,
    sql_tokens,
)

__all__ = ["describe_sqlite_schema", "owning_object", "sqlite_schema_objects"]


def _column_description(
    row: tuple[int, str, str, int, str | None, int, int], primary_columns: int, text: TableText
) -> str:
    """``TEXT NOT NULL DEFAULT 'x'``... from one ``pragma_table_xinfo`` row."""
    _, name, declared, not_null, default, primary, hidden = row
    parts = []
    if declared:
        parts.append(normalize(declared).upper())
    collation = text.collations.get(name.lower())
    if collation and collation != "BINARY":
        parts.append(f"COLLATE {collation}")
    if not_null:
        parts.append("NOT NULL")
    if default is not None:
        parts.append(f"DEFAULT {normalize(default)}")
    if hidden in (2, 3):
        kind = "STORED" if hidden == 3 else "VIRTUAL"
        parts.append(f"AS ({text.generated.get(name.lower(), '?')}) {kind}")
    if primary:
        parts.append("PRIMARY KEY" if primary_columns == 1 else f"PRIMARY KEY ({primary} of {primary_columns})")
        if text.autoincrement and primary_columns == 1:
            parts.append("AUTOINCREMENT")
    return " ".join(parts) or "(no declared type)"


def _index_columns(connection: sqlite3.Connection, index: str, sql: str | None) -> tuple[str, str]:
    """The column list of an index, ``"a, b DESC, lower(c)"``, and its ``WHERE`` condition."""
    written: list[list[Token]] = []
    where = ""
    if sql is not None:
        tokens = sql_tokens(sql)
        on = next((i for i, t in enumerate(tokens) if t.is_word("ON")), len(tokens))
        inside, after = parenthesised_after(tokens, on)
        written = split_commas(inside)
        rest = tokens[after:]
        if rest and rest[0].is_word("WHERE"):
            where = render(rest[1:])
    columns = []
    rows = connection.execute(
        "SELECT seqno, cid, name, desc, coll FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno", (index,)
    ).fetchall()
    for seqno, cid, name, descending, collation in rows:
        if cid == -2 and seqno < len(written):  # an expression: take it from the statement
            expression = list(written[seqno])
            if expression and expression[-1].is_word("ASC", "DESC"):
                expression.pop()
            if len(expression) > 2 and expression[-2].is_word("COLLATE"):
                del expression[-2:]
            column = render(expression)
        else:
            column = key_name(name) if name is not None else ("rowid" if cid == -1 else "?")
        if collation and collation.upper() != "BINARY":
            column += f" COLLATE {collation.upper()}"
        if descending:
            column += " DESC"
        columns.append(column)
    return ", ".join(columns), where


def _foreign_keys(
    connection: sqlite3.Connection, table: str, tables: dict[str, str], text: TableText
) -> dict[str, str]:
    """``foreign key`` entries of one table, composite keys grouped by their id."""
    grouped: dict[int, list[tuple[str, str, str | None, str, str, str]]] = {}
    for fk_id, _, parent, source, target, on_update, on_delete, match in connection.execute(
        "SELECT id, seq, \"table\", \"from\", \"to\", on_update, on_delete, match "
        "FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        (table,),
    ):
        grouped.setdefault(fk_id, []).append((parent, source, target, on_update, on_delete, match))
    result: dict[str, str] = {}
    for rows in grouped.values():
        parent = tables.get(rows[0][0].lower(), rows[0][0])
        parent_columns = _columns_by_lower_name(connection, parent) if parent.lower() in tables else {}
        targets: list[str | None] = [r[2] for r in rows]
        if all(t is None for t in targets):  # REFERENCES parent: its primary key, if it exists
            primary_key = "SELECT name FROM pragma_table_info(?) WHERE pk ORDER BY pk"
            targets = [c[0] for c in connection.execute(primary_key, (parent,))]
        sources = [r[1] for r in rows]
        description = f"REFERENCES {key_name(parent)}"
        if targets:
            names = (parent_columns.get((t or "?").lower(), t or "?") for t in targets)
            description += f" ({', '.join(key_name(n) for n in names)})"
        _, _, _, on_update, on_delete, match = rows[0]
        description += f" ON UPDATE {on_update} ON DELETE {on_delete}"
        if match and match.upper() != "NONE":
            description += f" MATCH {match}"
        if tuple(s.lower() for s in sources) in text.deferred:
            description += " DEFERRABLE INITIALLY DEFERRED"
        key = f"foreign key {key_name(table)} ({', '.join(key_name(s) for s in sources)})"
        result[key] = description if key not in result else " | ".join(sorted((result[key], description)))
    return result


def _columns_by_lower_name(connection: sqlite3.Connection, table: str) -> dict[str, str]:
    return {
        row[0].lower(): row[0] for row in connection.execute("SELECT name FROM pragma_table_xinfo(?)", (table,))
    }


def _describe_table(
    connection: sqlite3.Connection, table: str, sql: str, tables: dict[str, str], index_sql: dict[str, str]
) -> dict[str, str]:
    """Every entry of one table: itself, its columns, CHECKs, indexes and foreign keys."""
    name = key_name(table)
    tokens = sql_tokens(sql)
    if len(tokens) > 1 and tokens[1].is_word("VIRTUAL"):
        using = next((i for i, t in enumerate(tokens) if t.is_word("USING")), len(tokens))
        entries = {f"table {name}": render([Token("word", "virtual")] + tokens[using:])}
        try:
            rows = connection.execute("SELECT * FROM pragma_table_xinfo(?)", (table,)).fetchall()
        except sqlite3.Error:  # the module is not loaded here: its columns are unknown
            rows = []
        for row in rows:
            entries[f"column {name}.{key_name(row[1])}"] = _column_description(row, 0, read_table_sql(""))
        return entries

    text = read_table_sql(sql)
    entries = {f"table {name}": " ".join(["table", *text.options])}
    rows = connection.execute("SELECT * FROM pragma_table_xinfo(?)", (table,)).fetchall()
    primary_columns = sum(1 for row in rows if row[5])
    for row in rows:
        entries[f"column {name}.{key_name(row[1])}"] = _column_description(row, primary_columns, text)
    for check in text.checks:
        entries[f"check {name}: {check}"] = "check"
    for _, index, unique, origin, partial in connection.execute(
        "SELECT seq, name, \"unique\", origin, partial FROM pragma_index_list(?)", (table,)
    ).fetchall():
        if origin == "pk":  # the primary key, already described on its columns
            continue
        columns, where = _index_columns(connection, index, index_sql.get(index))
        if origin == "u":  # sqlite_autoindex_*: named after the table and columns instead
            entries[f"unique {name} ({columns})"] = "unique"
            continue
        description = f"ON {name} ({columns})"
        if unique:
            description += " UNIQUE"
        if partial and where:
            description += f" WHERE {where}"
        entries[f"index {key_name(index)}"] = description
    entries.update(_foreign_keys(connection, table, tables, text))
    return entries


def describe_sqlite_schema(connection: sqlite3.Connection) -> dict[str, str]:
    """The main schema of ``connection`` as ``{key: description}``, normalized.

    SQLite's internal objects (``sqlite_%``) and the history table
    ``refinery_schema_history`` (with anything attached to it) are left out.
    Only reads: no statement here starts a transaction.
    """
    rows = connection.execute(
        "SELECT type, name, sql FROM main.sqlite_master "
        "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name != ? AND tbl_name != ? ORDER BY type, name",
        (HISTORY_TABLE, HISTORY_TABLE),
    ).fetchall()
    tables = {name.lower(): name for kind, name, _ in rows if kind == "table"}
    index_sql = {name: sql for kind, name, sql in rows if kind == "index" and sql is not None}
    schema: dict[str, str] = {}
    for kind, name, sql in rows:
        if kind == "table":
            schema.update(_describe_table(connection, name, sql or "", tables, index_sql))
        elif kind in ("view", "trigger"):
            schema[f"{kind} {key_name(name)}"] = normalized_statement(sql or "")
    return schema


def owning_object(key: str, description: str) -> str | None:
    """The key of the table or view that the entry ``key: description`` belongs to.

    ``"column agent_sessions.status"`` -> ``"table agent_sessions"``; a table
    or view owns itself; an index belongs to the table it is ``ON``; a
    trigger to its table (``"view v"`` for ``INSTEAD OF`` triggers, which
    SQLite only allows on views). ``None`` for a key this module does not
    write.
    """
    kind, _, rest = key.partition(" ")
    if kind in ("table", "view"):
        return key
    if kind == "foreign" and rest.startswith("key "):
        kind, rest = "foreign key", rest[len("key ") :]
    if kind in ("column", "check", "unique", "foreign key"):
        owner = _first_name(sql_tokens(rest))
        return f"table {key_name(owner)}" if owner is not None else None
    tokens = sql_tokens(description)
    on = next((i for i, t in enumerate(tokens) if t.is_word("ON")), None)
    if on is None or kind not in ("index", "trigger"):
        return None
    owner = _first_name(tokens[on + 1 :])
    if owner is None:
        return None
    instead = any(t.is_word("INSTEAD") for t in tokens[:on])
    return f"{'view' if kind == 'trigger' and instead else 'table'} {key_name(owner)}"


def _first_name(tokens: Sequence[Token]) -> str | None:
    return name_of(tokens[0]) if tokens else None


def sqlite_schema_objects(connection: sqlite3.Connection) -> frozenset[str]:
    """Tables, indexes, views, triggers and table columns of a SQLite database, as adoption compares them.

    Keys as in :mod:`.keys` (``table t``, ``index i``, ``column t.c``...),
    names as SQLite stores them; the history table is left out.
    """
    objects = set()
    rows = connection.execute(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name != ?",
        (HISTORY_TABLE,),
    ).fetchall()
    for kind, name in rows:
        objects.add(f"{kind} {name}")
        if kind == "table":
            for column in connection.execute("SELECT name FROM pragma_table_info(?)", (name,)):
                objects.add(f"column {name}.{column[0]}")
    return frozenset(objects)
