"""The command line's advice for an error: the ``nocodo-agents`` command to run next, built from the error's facts.

The library's messages say what to do in the library's terms (call
``resolve_unfinished(conn, 5, applied=True)``); the command line prints its
own advice after the message: :func:`hint_for` gives it for an error,
:func:`hint_for_status` for a row of ``status``, :func:`hint_for_divergence`
for a divergent migration and :func:`hint_for_conflict` for a conflicting
version ``verify`` lists. Each hint is keyed by the error's
class (the most specific class with a hint wins) and returns ``None`` when the
facts call for no command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..errors import (
    AdoptionAmbiguousError,
    DatabaseAccessError,
    DivergentMigrationError,
    GroupedRunRefusedError,
    HistoryNotEmptyError,
    HistoryTableError,
    HistoryWideningError,
    IncompleteMigrationError,
    InstalledCopyError,
    LockTimeoutError,
    MigrationConflictError,
    MigrationFailedError,
    PartialSchemaError,
    ResolveRefusedError,
    SchemaDriftError,
    SessionStateError,
    TransactionControlError,
    UnsplittableSqlError,
)
from ..status_rows import CONFLICT, DIVERGENT, UNFINISHED, StatusRow

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.reports import Conflict, Divergence

PROGRAM = "nocodo-agents"

#: After a migration file already applied was fixed.
REPAIR_AFTER_FIX = f"if the migration is already applied, run `{PROGRAM} repair` after fixing the file to re-record its checksum"


def _resolve_either(version: int) -> str:
    return f"`{PROGRAM} resolve {version} --applied` or `--absent`"


def _resolve_rollback(version: int, stays: str) -> str:
    return (
        f"either restore V{version}'s schema by hand and run `{PROGRAM} resolve {version} --applied` ({stays}: its "
        f"history row is kept), or finish undoing it by hand and run `{PROGRAM} resolve {version} --absent` (the rollback "
        f"is complete: its history row is deleted)"
    )


def _repair(recorded_agent: str | None) -> str:
    if recorded_agent is None:
        return f"if the schema is the one this migration creates, run `{PROGRAM} repair` to re-record the checksums"
    return f"if the change is intended and the schema already matches, run `{PROGRAM} repair` to re-record the checksum"


def _divergent(error: DivergentMigrationError) -> str:
    return _repair(error.recorded_agent)


def _renumber(version: int, agent: str | None) -> str:
    """Advice for a version the history records for another agent: renumber the claiming one (never ``repair``)."""
    return (
        f"V{version} belongs to the agent the history records, and its row stays as it is: renumber the "
        f"migration of agent {agent!r} (`{PROGRAM} new {agent} NAME --timestamp` writes a free version) and release it, "
        f"or leave agent {agent!r} out (`--agent NAME` for each agent to run)"
    )


def _conflict(error: MigrationConflictError) -> str | None:
    if error.recorded_agent is None:
        return None
    if getattr(error, "journalled", None):
        return (
            f"V{error.version} is an unfinished {error.journalled} of agent {error.recorded_agent!r}: settle it with "
            f"`{PROGRAM} resolve {error.version} --applied` or `--absent` and `--agent {error.recorded_agent}`, then "
            f"renumber the migration of agent {error.agent!r} (`{PROGRAM} new {error.agent} NAME --timestamp` writes a free version)"
        )
    return _renumber(error.version, error.agent)


def _failed(error: MigrationFailedError) -> str | None:
    if not error.journalled:
        return None
    if error.phase == "rollback":
        return _resolve_rollback(error.version, "it stays applied")
    return (
        f"bring the schema to V{error.version} fully applied or fully absent by hand, then run "
        f"{_resolve_either(error.version)}"
    )


def _incomplete(error: IncompleteMigrationError) -> str:
    if error.direction == "rollback":
        return _resolve_rollback(error.version, "the migration stays applied")
    return (
        f"bring the schema to the migration fully applied or fully absent by hand, then run "
        f"`{PROGRAM} resolve {error.version} --applied` or `{PROGRAM} resolve {error.version} --absent`"
    )


def _access(error: DatabaseAccessError) -> str | None:
    if error.unfinished:
        return "; ".join(
            f"once the server is reachable, bring the schema by hand to V{version} fully applied or fully absent and "
            f"run {_resolve_either(version)}"
            for version in error.unfinished
        )
    if error.missing:
        return f"run `{PROGRAM} migrate` to create it"
    return None


def _adoption(error: AdoptionAmbiguousError) -> str:
    return (
        f"record what the database already holds with `{PROGRAM} baseline --version V`, where V is the last version "
        f"whose effects it holds (V{error.version} if that migration already ran here, an earlier one if not), then run "
        f"`{PROGRAM} migrate` to apply the rest"
    )


def _resolve_refused(error: ResolveRefusedError) -> str | None:
    if error.needs_agent:
        return "install its agent, or pass it with `--agent NAME`"
    return None


_HINTS: dict[type[BaseException], Callable[..., str | None]] = {
    MigrationConflictError: _conflict,
    DivergentMigrationError: _divergent,
    TransactionControlError: lambda error: REPAIR_AFTER_FIX,
    SessionStateError: lambda error: REPAIR_AFTER_FIX,
    UnsplittableSqlError: lambda error: REPAIR_AFTER_FIX,
    MigrationFailedError: _failed,
    IncompleteMigrationError: _incomplete,
    DatabaseAccessError: _access,
    PartialSchemaError: lambda error: f"or adopt the database explicitly with `{PROGRAM} baseline`",
    AdoptionAmbiguousError: _adoption,
    GroupedRunRefusedError: lambda error: f"run `{PROGRAM} migrate` without --grouped",
    HistoryNotEmptyError: lambda error: f"use `{PROGRAM} migrate --fake --target V` to record further versions without running them",
    SchemaDriftError: lambda error: f"`{PROGRAM} verify` lists the drift",
    LockTimeoutError: lambda error: "or allow a longer wait with --lock-timeout SECONDS",
    HistoryTableError: lambda error: (
        f"or rename the table away and record what the schema holds with `{PROGRAM} baseline`"
    ),
    ResolveRefusedError: _resolve_refused,
    InstalledCopyError: lambda error: (
        f"install the agent from its source tree with `pip install -e PATH` and run `{PROGRAM} new` again, "
        f"or pass `--force` to write into the installed copy anyway"
    ),
    HistoryWideningError: lambda error: (
        f"install or request (`--agent NAME`) the agents providing those rows; if they belong to a Rust application "
        f"sharing the database, run `{PROGRAM} widen-history --keep-unverified` first"
    ),
}


def hint_for(error: BaseException) -> str | None:
    """The command line's advice for ``error`` (the command to run next), or ``None``.

    Looked up by the most specific class of ``error`` that has a hint, so a
    subclass shares its parent's unless it has its own.
    """
    for cls in type(error).__mro__:
        hint = _HINTS.get(cls)
        if hint is not None:
            return hint(error)
    return None


def hint_for_divergence(divergence: Divergence) -> str:
    """The command line's advice for a divergent migration ``verify`` lists."""
    return _repair(divergence.recorded_agent)


def hint_for_conflict(conflict: Conflict) -> str:
    """The command line's advice for a conflicting version ``verify`` lists: renumber, never ``repair``."""
    return _renumber(conflict.version, conflict.agent)


def hint_for_status(row: StatusRow) -> str | None:
    """The command line's advice for a row of ``status``: ``resolve`` an unfinished one, ``repair`` a divergent one.

    A conflicting one (recorded for another agent) is never repaired: the
    row names the recorded agent, and its detail the claiming one.
    """
    if row.state == CONFLICT:
        return (
            f"V{row.version} belongs to agent {row.agent!r}, and its row stays as it is: renumber the claiming "
            f"agent's migration (the detail names it), or leave that agent out (`--agent NAME` for each agent to run)"
        )
    if row.state == UNFINISHED:
        return f"settle it with `{PROGRAM} resolve {row.version} --applied` or `{PROGRAM} resolve {row.version} --absent`"
    if row.state == DIVERGENT:
        return f"if the schema already matches, run `{PROGRAM} repair` to re-record the checksum"
    return None
