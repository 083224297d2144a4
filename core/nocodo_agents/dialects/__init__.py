"""Database dialects, one module each, chosen from the connection object itself.

The dialect is detected from the connection's type, never guessed from a
string: ``sqlite3.Connection``, ``psycopg.Connection`` (3), PyMySQL's
``Connection``, or a SQLAlchemy ``Engine``/``Connection`` wrapping one of them.
A driver's module is only looked at if it is already imported (a connection
of that driver implies it), so detection imports nothing.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import ConnectionStateError
from ..history import HISTORY_TABLE
from .base import Dialect, UnfinishedMigration

__all__ = ["HISTORY_TABLE", "Dialect", "UnfinishedMigration", "dbapi_connection", "dialect_for"]


def _is_instance(connection: Any, module_name: str, class_path: str) -> bool:
    module = sys.modules.get(module_name)
    if module is None:
        return False
    target: Any = module
    for part in class_path.split("."):
        target = getattr(target, part, None)
        if target is None:
            return False
    return isinstance(connection, target)


@contextmanager
def dbapi_connection(connection: Any) -> Iterator[Any]:
    """The DB-API connection behind ``connection``: SQLAlchemy objects are unwrapped.

    An ``Engine`` lends one of its pooled connections for the duration and
    gets it back afterwards; a SQLAlchemy ``Connection`` lends its own.
    """
    if _is_instance(connection, "sqlalchemy.engine", "Engine"):
        pooled = connection.raw_connection()
        try:
            yield pooled.dbapi_connection
        finally:
            pooled.close()
        return
    if _is_instance(connection, "sqlalchemy.engine", "Connection"):
        yield connection.connection.dbapi_connection
        return
    yield connection


def dialect_for(connection: Any) -> Dialect:
    """The dialect of an open DB-API connection, detected from its type."""
    if _is_instance(connection, "sqlite3", "Connection"):
        from .sqlite import SQLiteDialect

        return SQLiteDialect(connection)
    if _is_instance(connection, "psycopg", "Connection"):
        from .postgresql import PostgreSQLDialect

        return PostgreSQLDialect(connection)
    if _is_instance(connection, "pymysql.connections", "Connection"):
        from .mysql import MySQLDialect

        return MySQLDialect(connection)
    raise ConnectionStateError(
        f"unsupported connection object {type(connection).__module__}.{type(connection).__qualname__}: "
        f"pass an open sqlite3, psycopg (3) or PyMySQL connection, or a SQLAlchemy Engine or "
        f"Connection using one of them"
    )
