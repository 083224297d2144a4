"""Rows of the ``refinery_schema_history`` table and how their fields are written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

#: refinery's history table name.
HISTORY_TABLE = "refinery_schema_history"


@dataclass(frozen=True)
class HistoryRow:
    """One row of ``refinery_schema_history``; ``agent`` is ``None`` where refinery wrote it."""

    version: int
    name: str
    applied_on: str
    checksum: str
    agent: Optional[str] = None


def now_rfc3339() -> str:
    """The current UTC time as refinery writes ``applied_on``: RFC 3339 with a ``Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_RFC3339 = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))\Z"
)


def parse_rfc3339(text: str) -> Optional[datetime]:
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
