"""How the schema layer talks to a database: a callable the dialect hands it, never the dialect itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

__all__ = ["Query"]

#: The dialect's way to send one statement: ``query(sql, params)`` -> its rows (counted as one statement).
Query = Callable[[str, Sequence[Any]], list[Any]]
