"""Database dialects, one module each, chosen from the connection object itself."""

from __future__ import annotations

import sys
from typing import Any

from ..errors import ConnectionStateError
from ..history import HISTORY_TABLE
from .base import Dialect

__all__ = ["HISTORY_TABLE", "Dialect", "dialect_for"]


def dialect_for(connection: Any) -> Dialect:
    """The dialect of an open DB-API connection, detected from its type."""
    sqlite3 = sys.modules.get("sqlite3")  # a sqlite3 connection implies the module is loaded
    if sqlite3 is not None and isinstance(connection, sqlite3.Connection):
        from .sqlite import SQLiteDialect

        return SQLiteDialect(connection)
    raise ConnectionStateError(
        f"unsupported connection object {type(connection).__module__}.{type(connection).__qualname__}: "
        f"pass an open sqlite3.Connection"
    )
