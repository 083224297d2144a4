"""Errors of the history's version width: widening a 32-bit history to refinery's ``int8-versions``."""

from __future__ import annotations

from collections.abc import Sequence

from .base import MigrationError

#: How a library user widens keeping the 32-bit checksums of rows no installed agent provides.
KEEP_UNVERIFIED_CALL = "nocodo_agents.lifecycle.widen_history(conn, keep_unverified=True)"


class HistoryWideningError(MigrationError):
    """Widening the history to 64-bit versions would leave rows whose checksums no installed agent can re-record.

    Raised before anything changes. ``rows`` are ``(version, name, agent)``
    of the history rows no installed agent provides (``agent`` is ``None``
    for a row refinery wrote); ``needed_by`` is ``(version, name, agent)`` of
    the migration whose version needs the 64-bit column, ``None`` when
    widening was asked for explicitly; ``database`` where the history is.
    """

    def __init__(
        self,
        *,
        database: str,
        rows: Sequence[tuple[int, str, str | None]],
        needed_by: tuple[int, str, str] | None = None,
    ) -> None:
        self.database = database
        self.rows = tuple(rows)
        self.needed_by = needed_by
        listed = ", ".join(
            f"V{version}__{name} ({'agent ' + repr(agent) if agent else 'no agent: written by refinery'})"
            for version, name, agent in self.rows
        )
        why = (
            f"migration V{needed_by[0]}__{needed_by[1]} of agent {needed_by[2]!r} has a version above 2147483647, "
            f"which needs refinery's 64-bit history (int8-versions)"
            if needed_by is not None
            else "widening was asked for"
        )
        super().__init__(
            f"cannot widen refinery_schema_history in {database} to 64-bit versions ({why}): widening records every "
            f"checksum again in refinery's int8 encoding, and no installed agent provides {listed}, so their checksums "
            f"cannot be verified and re-recorded. Nothing was changed. Install the agents providing them and run "
            f"again; if they belong to a Rust application sharing the database (which records "
            f"its own checksums), widen keeping their 32-bit checksums as they are with {KEEP_UNVERIFIED_CALL}, then "
            f"run again."
        )
