"""The live schema of a connection, described by the library's own describers, for comparing two moments of one database.

The description is the one drift detection uses (:mod:`nocodo_agents.schema.keys`:
``{"table t": ..., "column t.c": ..., ...}``), without the library's own
bookkeeping tables (the history and MySQL's journal), so that a database
rolled back to nothing compares equal to one never migrated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from ..dialects import dialect_for
from ..errors import ConnectionStateError
from ..history import BOOKKEEPING_TABLES

if TYPE_CHECKING:  # pragma: no cover
    import sqlite3

    from ..connection import DBAPIConnection

__all__ = ["describe_schema", "schema_changes"]


def _query_function(connection: DBAPIConnection) -> Callable[[str, Sequence[Any]], list[Any]]:
    def query(sql: str, params: Sequence[Any]) -> list[Any]:
        cursor = connection.cursor()
        try:
            cursor.execute(sql, tuple(params) or None)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    return query


def _described(connection: DBAPIConnection, dialect: str) -> dict[str, str]:
    if dialect == "sqlite":
        from ..schema.describe_sqlite import describe_sqlite_schema

        return describe_sqlite_schema(cast("sqlite3.Connection", connection))  # the dialect says so
    query = _query_function(connection)
    if dialect == "postgresql":
        from ..schema.describe_postgresql import describe_postgresql

        return describe_postgresql(query, query("SELECT current_schema()", ())[0][0])
    from ..schema.describe_mysql import describe_mysql

    database = query("SELECT DATABASE()", ())[0][0]
    mariadb = "mariadb" in str(query("SELECT VERSION()", ())[0][0]).lower()
    return describe_mysql(query, database, mariadb)[0]


def describe_schema(connection: DBAPIConnection) -> dict[str, str]:
    """The schema of ``connection`` (sqlite3, psycopg 3 or PyMySQL, outside a transaction) as ``{key: description}``.

    Only reads. On a server, a transaction the reads opened is rolled back,
    so an idle connection is handed back idle, as migrations need it; a
    transaction the caller had open is left open, its work kept.
    Entries of the bookkeeping tables are left out.
    """
    found = dialect_for(connection)
    dialect = found.name
    try:
        found.ensure_idle()
        idle = True
    except ConnectionStateError:
        idle = False
    try:
        described = _described(connection, dialect)
    finally:
        if dialect != "sqlite" and idle:
            connection.rollback()  # the reads' own transaction only (a no-op in autocommit mode)
    return {
        key: description
        for key, description in described.items()
        if not any(table in key or table in description for table in BOOKKEEPING_TABLES)
    }


def schema_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What differs from ``before`` to ``after``, one line each (``+ key``, ``- key``, ``~ key: a -> b``), sorted by key."""
    lines = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            lines.append(f"+ {key}: {after[key]}")
        elif key not in after:
            lines.append(f"- {key}: {before[key]}")
        elif before[key] != after[key]:
            lines.append(f"~ {key}: {before[key]} -> {after[key]}")
    return lines
