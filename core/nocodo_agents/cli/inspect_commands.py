"""Commands that only read: agents, status, verify.

Each command's arguments are declared beside its handler, and the two are
put together in a :class:`~.command.Command` (``AGENTS``, ``STATUS``,
``VERIFY``). The handlers import the registry and the engine when they
run, not when this module is imported: building the parser must stay cheap.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .command import Command
from .exit_codes import ExitCode
from .options import add_agent_options, add_json_option
from .output import Output
from .session import database_url, open_database

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.reports import VerifyReport
    from ..errors import MigrationError


# agents

def agents_command(args: argparse.Namespace, output: Output) -> int:
    from ..core_plugin import CORE_AGENT
    from ..discovery import DISABLE_AUTOLOAD_ENV, AgentRegistry
    from ..errors import MigrationError

    registry = AgentRegistry.installed()
    rows: list[dict[str, Any]] = []
    for name in registry.agent_names():
        row: dict[str, Any] = {
            "agent": name, "distribution": None, "version": None, "entry_point": None, "migrations": None,
            "requires": None, "error": None,
        }
        try:
            entry = registry.entry(name)
            row.update(distribution=entry.distribution, version=entry.version, entry_point=entry.target)
            migration_set = registry.migration_set(name)
            row["migrations"] = [m.version for m in migration_set.migrations]
            row["requires"] = [r for r in migration_set.requires if r != CORE_AGENT]  # core: required by every agent
            registry.requested_sets([name])  # a required agent that is not installed is this agent's error
        except MigrationError as error:
            row["error"] = str(error)
        rows.append(row)
    if args.json:
        output.json(rows)
        return ExitCode.OK
    for row in rows:
        row["shown"] = f"error: {row['error']}" if row["error"] else ", ".join(str(v) for v in row["migrations"]) or "(none)"
        row["required"] = ", ".join(row["requires"] or []) or "-"
    output.table(
        rows,
        ["agent", "distribution", "version", "entry_point", "required", "shown"],
        ["AGENT", "DISTRIBUTION", "VERSION", "ENTRY POINT", "REQUIRES", "MIGRATIONS"],
    )
    if registry.autoload_disabled:
        output.line(f"note: {DISABLE_AUTOLOAD_ENV} is set: agents installed as distributions are not loaded")
    return ExitCode.OK


AGENTS = Command(add_json_option, agents_command)


# status

def _status_arguments(parser: argparse.ArgumentParser) -> None:
    add_agent_options(parser)
    add_json_option(parser)
    parser.add_argument(
        "--check",
        action="store_true",
        help=(
            "exit 3 if anything is pending, 4 if anything diverges, 7 if a migration or rollback is unfinished, "
            "8 if a requested agent claims a version the history records for another agent"
        ),
    )


def status_command(args: argparse.Namespace, output: Output) -> int:
    from ..engine.status import CONFLICT, DIVERGENT, PENDING, UNFINISHED, migration_status
    from ..sqlite_location import MissingFileStandIn
    from .hints import hint_for_status

    with open_database(args, create=False, empty_if_missing=True) as conn:
        rows = migration_status(conn, args.agents, lock_timeout=args.lock_timeout, requested=args.requested)
        missing = isinstance(conn, MissingFileStandIn)
    if missing:  # on stderr: --json's stdout stays the rows alone
        output.note(f"{database_url(args)} does not exist yet: every migration is pending "
                    "(status creates nothing; `nocodo-agents migrate` creates it)")
    if args.json:
        output.json([{**row.as_dict(), "hint": hint_for_status(row)} for row in rows])
    else:
        output.table(
            [row.as_dict() for row in rows],
            ["version", "name", "agent", "state", "applied_on"],
            ["VERSION", "NAME", "AGENT", "STATE", "APPLIED ON"],
        )
        for row in rows:
            if row.detail:
                output.line(f"\nV{row.version}: {row.detail}")
            hint = hint_for_status(row)
            if row.detail and hint:
                output.line(f"hint: {hint}")
    if args.check:
        if any(row.state == CONFLICT for row in rows):
            return ExitCode.CONFLICT
        if any(row.state == UNFINISHED for row in rows):
            return ExitCode.UNFINISHED
        if any(row.state == DIVERGENT for row in rows):
            return ExitCode.VERIFICATION_FAILED
        if any(row.state == PENDING for row in rows):
            return ExitCode.PENDING
    return ExitCode.OK


STATUS = Command(_status_arguments, status_command)


# verify

def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    add_agent_options(parser)
    add_json_option(parser)


def verify_command(args: argparse.Namespace, output: Output) -> int:
    from ..engine.run import incomplete_error
    from ..engine.verify import verify_database

    with open_database(args, create=False) as conn:
        report = verify_database(conn, args.agents, lock_timeout=args.lock_timeout, requested=args.requested)
    stopped = None if report.unfinished is None else incomplete_error(report.unfinished)
    if args.json:
        output.json(_verify_json(report, stopped))
    else:
        _print_verify(report, stopped, output)
    if report.conflicts:
        return ExitCode.CONFLICT
    if report.unfinished is not None:
        return ExitCode.UNFINISHED
    return ExitCode.OK if report.ok else ExitCode.VERIFICATION_FAILED


def _verify_json(report: VerifyReport, stopped: MigrationError | None) -> dict[str, Any]:
    """``verify --json``: what the verification found, as one JSON object."""
    from .hints import hint_for, hint_for_conflict, hint_for_divergence

    return {
        "ok": report.ok,
        "conflicts": [
            {
                "version": c.version, "recorded_agent": c.recorded_agent, "agent": c.agent, "distribution": c.distribution,
                "source": c.source, "message": c.message, "hint": hint_for_conflict(c),
            }
            for c in report.conflicts
        ],
        "divergent": [
            {"version": d.version, "agent": d.agent, "message": d.message, "hint": hint_for_divergence(d)}
            for d in report.divergent
        ],
        "drift": [{"kind": d.kind, "key": d.key, "expected": d.expected, "live": d.live} for d in report.drift.differences],
        "invalid_indexes": list(report.invalid_indexes),
        "unmanaged": list(report.drift.unmanaged),
        "not_installed": [row.version for row in report.not_installed],
        "pending": list(report.pending),
        "unfinished": None if report.unfinished is None else {
            "version": report.unfinished.version,
            "direction": report.unfinished.direction,
            "message": str(stopped),
            "hint": hint_for(stopped),
        },
    }


def _print_verify(report: VerifyReport, stopped: MigrationError | None, output: Output) -> None:
    """``verify``: what the verification found, one section per check, then notes."""
    from .hints import hint_for, hint_for_conflict, hint_for_divergence

    if report.unfinished is not None:
        output.result(f"unfinished: V{report.unfinished.version}: {stopped}")
        output.result(f"  hint: {hint_for(stopped)}")
    for conflict in report.conflicts:
        output.result(f"conflict: V{conflict.version}: {conflict.message}")
        output.result(f"  hint: {hint_for_conflict(conflict)}")
    if report.divergent:
        output.result(f"checksums: {len(report.divergent)} applied migration(s) differ from the installed files")
        for divergence in report.divergent:
            output.result(f"  V{divergence.version}: {divergence.message}")
            output.result(f"  hint: {hint_for_divergence(divergence)}")
    else:
        output.result("checksums: every applied migration matches its installed file")
    if report.drift.has_drift:
        output.result(f"schema: {len(report.drift.differences)} difference(s) from what the applied migrations produce")
        for difference in report.drift.differences:
            output.result(f"  {difference}")
    else:
        output.result("schema: no drift from what the applied migrations produce")
    if report.invalid_indexes:
        output.result(
            f"indexes: {len(report.invalid_indexes)} invalid (a CONCURRENTLY build failed or was interrupted; "
            f"queries do not use them): drop each, then migrate again"
        )
        for index in report.invalid_indexes:
            output.result(f"  {index}: DROP INDEX CONCURRENTLY {index};")
    from .row_notes import not_requested_row_note, unmanaged_table_note

    for name in report.drift.unmanaged:
        output.line(unmanaged_table_note(name))
    for row in report.not_installed:
        output.line(not_requested_row_note(row))
    if report.pending:
        output.line("note: pending (not applied yet): " + ", ".join(f"V{v}" for v in report.pending))


VERIFY = Command(_verify_arguments, verify_command)
