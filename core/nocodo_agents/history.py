"""What the bookkeeping tables hold: refinery's history rows, MySQL's journal entries, and their names.

Values only: the dialects read and write these tables, the schema layer
leaves them out of a described schema, the plan layer reads the rows.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

#: refinery's history table name.
HISTORY_TABLE = "refinery_schema_history"
#: MySQL's statement journal (see :mod:`nocodo_agents.dialects.mysql.journal`): where a migration in
#: progress is remembered, statement by statement.
JOURNAL_TABLE = "nocodo_agents_migration_journal"
#: The tables the runner keeps for itself: bookkeeping, never part of an agent's schema.
BOOKKEEPING_TABLES = frozenset({HISTORY_TABLE, JOURNAL_TABLE})


def is_64_bit_type(declared_type: object) -> bool:
    """Whether the history's ``version`` column, declared as ``declared_type``, holds 64-bit versions.

    ``INT8``/``BIGINT`` (SQLite's declared type, PostgreSQL's ``int8``,
    MySQL's ``bigint``, what refinery's ``int8-versions`` creates) are 64-bit;
    ``INT4``/``INT``/``INTEGER`` (refinery's default) and anything else 32-bit.
    """
    text = as_text(declared_type).strip().lower() if declared_type is not None else ""
    return "int8" in text or "bigint" in text


@dataclass(frozen=True)
class HistoryRow:
    """One row of ``refinery_schema_history``; ``agent`` is ``None`` where refinery wrote it."""

    version: int
    name: str
    applied_on: str
    checksum: str
    agent: str | None = None


@dataclass(frozen=True)
class UnfinishedMigration:
    """A journal entry: a migration (or its rollback, ``direction``) that stopped part-way.

    Statements before ``failed_index`` ran. ``in_progress``: read without
    the migration lock while another connection held it, so the entry may be
    a live runner's, at work right now, rather than a stopped one's; only the
    lock's holder can tell (MySQL journals each statement as it goes, and
    commits that at once).
    """

    version: int
    name: str
    agent: str
    statements: int
    failed_index: int
    error: str
    direction: str = "migration"
    in_progress: bool = False


def as_text(value: Any) -> str:
    """A text column's value as ``str`` (some drivers, PyMySQL among them, hand back bytes)."""
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)


#: The whole second :func:`now_rfc3339` last formatted, and its text up to the seconds.
_last_second: tuple[int, str] = (-1, "")


def now_rfc3339() -> str:
    """The current UTC time as refinery writes ``applied_on``: RFC 3339 with a ``Z`` (microseconds).

    The text up to the seconds is formatted once per second (a run applying
    many migrations asks many times a second); the microseconds are
    appended, truncated as :meth:`datetime.datetime.now` gives them.
    """
    global _last_second
    second, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    last, text = _last_second
    if second != last:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, text)
    return f"{text}.{nanoseconds // 1000:06d}Z"


_RFC3339 = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))\Z"
)


def parse_rfc3339(text: str) -> datetime | None:
    """Parse ``applied_on`` as refinery (or this library) wrote it; ``None`` if it is not RFC 3339.

    Handles ``Z`` and numeric offsets and fractions of any length (refinery
    writes nanoseconds, which :func:`datetime.fromisoformat` rejects before 3.11).
    """
    match = _RFC3339.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    offset = timedelta(0)
    if not zulu:
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (1 if sign == "+" else -1)
    microseconds = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), microseconds,
            tzinfo=timezone(offset),
        )
    except ValueError:
        return None
