"""Rows of the ``refinery_schema_history`` table and how their fields are written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
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
