"""Database dialects, one module each, chosen from the connection object itself.

The dialect is detected from the connection's type, never guessed from a
string: ``sqlite3.Connection``, ``psycopg.Connection`` (3), PyMySQL's
``Connection``, or a SQLAlchemy ``Engine``/``Connection`` wrapping one of them.
What each dialect's connection type is, and everything else the package knows
about a database by name, is in :mod:`.registry`. A driver's module is only
looked at if it is already imported (a connection of that driver implies
it), so detection imports nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ConnectionStateError
from ..history import HISTORY_TABLE
from .base import Dialect, UnfinishedMigration
from .registry import is_instance, spec_for_connection, supported_drivers

__all__ = ["HISTORY_TABLE", "Dialect", "UnfinishedMigration", "dbapi_connection", "dialect_for"]


#: SQLAlchemy's wrappers, unwrapped by :func:`dbapi_connection` (looked at only if SQLAlchemy is imported).
_ENGINE = ("sqlalchemy.engine", "Engine")
_CONNECTION = ("sqlalchemy.engine", "Connection")


@contextmanager
def dbapi_connection(connection: Any) -> Iterator[Any]:
    """The DB-API connection behind ``connection``: SQLAlchemy objects are unwrapped.

    An ``Engine`` lends one of its pooled connections for the duration and
    gets it back afterwards; a SQLAlchemy ``Connection`` lends its own.
    """
    if is_instance(connection, _ENGINE):
        pooled = connection.raw_connection()
        try:
            yield pooled.dbapi_connection
        finally:
            pooled.close()
        return
    if is_instance(connection, _CONNECTION):
        yield connection.connection.dbapi_connection
        return
    yield connection


def dialect_for(connection: Any) -> Dialect:
    """The dialect of an open DB-API connection, detected from its type (see :mod:`.registry`)."""
    spec = spec_for_connection(connection)
    if spec is not None:
        return spec.dialect(connection)
    raise ConnectionStateError(
        problem=f"unsupported connection object {type(connection).__module__}.{type(connection).__qualname__}: "
        f"pass an open {supported_drivers()} connection, or a SQLAlchemy Engine or "
        f"Connection using one of them"
    )
