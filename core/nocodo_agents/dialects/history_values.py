"""What the history table's I/O hands around: a raw value decoded, a row checked, the guard's one row, the no-op cache's snapshot.

Values only, no statement: :mod:`.history_table` reads and writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..errors import HistoryRowError
from ..history import HISTORY_TABLE

__all__ = ["HistoryGuard", "HistorySnapshot", "version_sum"]

#: The columns :meth:`Dialect.read_history` reads, in order.
_READ_COLUMNS = ("version", "name", "applied_on", "checksum", "agent")


def _shown(value: Any) -> Any:
    """A history value as read: bytes that are UTF-8 become ``str``; others stay bytes (and are reported)."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)
    return value


def version_sum(versions: Sequence[int] | Any) -> int:
    """What :meth:`HistoryTable.history_guard` sums: each version modulo 2**32, so 64-bit versions never overflow."""
    return sum(version % 4294967296 for version in versions)


def _plain_row(raw: Sequence[Any]) -> tuple[int, str, str, str, str | None]:
    """A raw history row's five values as a :class:`HistoryRow` holds them; :class:`HistoryRowError` naming what is wrong."""
    row = tuple(_shown(value) for value in raw)
    version, name, applied_on, checksum, by = row
    if version is None or name is None or checksum is None:
        raise HistoryRowError(table=HISTORY_TABLE, row=row, problem="version, name and checksum must not be NULL")
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise HistoryRowError(table=HISTORY_TABLE, row=row, problem="the version is not an integer") from None
    undecodable = [column for column, value in zip(_READ_COLUMNS, row) if isinstance(value, bytes)]
    if undecodable:
        raise HistoryRowError(
            table=HISTORY_TABLE,
            row=row,
            problem=f"its {', '.join(undecodable)} holds bytes that are not UTF-8 text",
        )
    return number, str(name), "" if applied_on is None else str(applied_on), str(checksum), None if by is None else str(by)


class HistorySnapshot(NamedTuple):
    """The history as one run read it, in a form the same connection can compare with in one statement.

    ``sql`` is the statement that reads it again, ``rows`` what that statement
    returned then (the rows, each with the table's schema version, the
    connection's token and, last, ``wait``: see :meth:`HistoryTable.history_snapshot`).
    ``wait`` is the caller's own lock wait setting on the connection as last
    seen (SQLite's busy timeout, in milliseconds), which ``sql`` also reads.
    """

    sql: str
    rows: list[Any]
    wait: int = 0


class HistoryGuard(NamedTuple):
    """What :meth:`HistoryTable.history_guard` reads: enough to tell whether the history changed, in one row."""

    rows: int  #: how many versions the history holds
    version_sum: int  #: the sum of those versions, each taken modulo 2**32 (:func:`version_sum`)
    recorded: bool  #: whether the version asked about is one of them
    int8: bool = False  #: whether the ``version`` column is declared 64-bit (another runner may have widened it)
