"""Commands that change the database: baseline, rollback, repair, resolve, widen-history (migrate: :mod:`.migrate_command`).

Each command's arguments are declared beside its handler, and the two are
put together in a :class:`~.command.Command` (``BASELINE``, ``ROLLBACK``...).
The handlers import the engine when they run, not when this module is
imported: building the parser must stay cheap.
"""

from __future__ import annotations

import argparse

from .command import Command
from .exit_codes import ExitCode
from .migrate_command import errors_as_json, step_event
from .options import add_agent_options, add_json_option, version_number
from .output import Output
from .progress import json_line, live_line
from .session import database_url, open_database

# baseline

def _baseline_arguments(parser: argparse.ArgumentParser) -> None:
    add_agent_options(parser)
    parser.add_argument("--version", dest="baseline_version", type=version_number, required=True, metavar="V", help="the version the existing schema is at")


def baseline_command(args: argparse.Namespace, output: Output) -> int:
    from ..engine.history_ops import baseline

    with open_database(args, create=False) as conn:
        report = baseline(conn, args.baseline_version, args.agents, lock_timeout=args.lock_timeout, requested=args.requested)
    for step in report.adopted:
        output.line(f"recorded V{step.version}__{step.name} ({step.agent}) as applied (baseline)")
    output.line(f"done: baseline at version {args.baseline_version}, {len(report.adopted)} recorded")
    return ExitCode.OK


BASELINE = Command(_baseline_arguments, baseline_command)


# rollback

def _rollback_arguments(parser: argparse.ArgumentParser) -> None:
    add_agent_options(parser)
    parser.add_argument("--to", type=version_number, required=True, metavar="V", help="keep versions up to V")
    parser.add_argument("--dry-run", action="store_true", help="print the rollback SQL; change nothing")
    add_json_option(parser, "print one JSON object per line for each step, then a summary object (an error: an error object)")


def _rollback(args: argparse.Namespace, output: Output) -> int:
    from ..engine.reports import RollbackStep
    from ..engine.rollback import rollback_migrations

    live = None

    def progress(step: RollbackStep) -> None:
        nonlocal live
        if args.json:
            json_line(output, step_event("rolled-back", step))
            return
        if live is None:  # the count is not known before the first step: a line without a bar
            live = live_line(output, 0, "rolled back", json=False)
        if live is not None:
            live.clear()
        output.line(f"rolled back V{step.version}__{step.name} ({step.agent}) in {step.duration_ms or 0:.1f} ms")
        if live is not None:
            live.advance(f"V{step.version}__{step.name}")

    try:
        with open_database(args, create=False) as conn:
            report = rollback_migrations(
                conn, args.to, args.agents, dry_run=args.dry_run, progress=progress, lock_timeout=args.lock_timeout, requested=args.requested
            )
    finally:
        if live is not None:
            live.clear()
    if args.json:
        if args.dry_run:
            for step in report.rolled_back:
                json_line(output, step_event("would-roll-back", step, sql=step.sql, history_sql=step.history_sql))
        json_line(output, {
            "event": "summary", "database": str(database_url(args)), "dry_run": args.dry_run, "to": args.to,
            ("would_roll_back" if args.dry_run else "rolled_back"): len(report.rolled_back),
        })
        return ExitCode.OK
    if args.dry_run:
        for step in report.rolled_back:
            output.result(f"-- roll back V{step.version}__{step.name} (agent {step.agent}, distribution {step.distribution})")
            output.result((step.sql or "").strip("\n"))
            output.result(step.history_sql or "")
        if not report.rolled_back:
            output.line(f"-- nothing above version {args.to} is applied")
        return ExitCode.OK
    output.line(f"done: {len(report.rolled_back)} rolled back" if report.rolled_back else f"nothing above version {args.to} is applied")
    return ExitCode.OK


rollback_command = errors_as_json(_rollback)
ROLLBACK = Command(_rollback_arguments, rollback_command)


# repair

def repair_command(args: argparse.Namespace, output: Output) -> int:
    from ..engine.history_ops import repair_history

    with open_database(args, create=False) as conn:
        report = repair_history(conn, args.agents, lock_timeout=args.lock_timeout, requested=args.requested)
    for row in report.repaired:
        output.line(f"re-recorded V{row.version}__{row.name} ({row.agent}): checksum {row.checksum}")
    output.line(f"done: {len(report.repaired)} re-recorded" if report.repaired else "nothing to repair: every applied migration matches its file")
    return ExitCode.OK


REPAIR = Command(add_agent_options, repair_command)


# resolve

def _resolve_arguments(parser: argparse.ArgumentParser) -> None:
    add_agent_options(parser)
    parser.add_argument("version", type=version_number, metavar="V", help="the unfinished migration's version")
    outcome = parser.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--applied", action="store_true", help="the schema now has it fully applied: record it")
    outcome.add_argument("--absent", action="store_true", help="the schema now has none of it: leave it pending")


def resolve_command(args: argparse.Namespace, output: Output) -> int:
    from ..engine.history_ops import resolve_unfinished

    with open_database(args, create=False) as conn:  # ResolveRefusedError: exit 2 (exit_codes)
        row = resolve_unfinished(
            conn, args.version, args.applied, args.agents, lock_timeout=args.lock_timeout, requested=args.requested
        )
    if row is not None:
        output.line(f"recorded V{row.version}__{row.name} ({row.agent}) as applied; migrations can run again")
    else:
        output.line(f"V{args.version} recorded as absent (not applied); migrations can run again")
    return ExitCode.OK


RESOLVE = Command(_resolve_arguments, resolve_command)


# widen-history

def _widen_arguments(parser: argparse.ArgumentParser) -> None:
    add_agent_options(parser)
    parser.add_argument(
        "--keep-unverified", action="store_true",
        help="keep the 32-bit checksums of rows no installed agent provides (rows of a Rust application sharing the database)",
    )


def widen_command(args: argparse.Namespace, output: Output) -> int:
    from ..engine.widening import widen_history

    with open_database(args, create=False) as conn:  # HistoryWideningError: exit 4 (exit_codes)
        report = widen_history(
            conn, args.agents, keep_unverified=args.keep_unverified, lock_timeout=args.lock_timeout, requested=args.requested
        )
    for row in report.rerecorded:
        output.line(f"re-recorded V{row.version}__{row.name} ({row.agent or 'no agent'}): checksum {row.checksum} (64-bit encoding)")
    for row in report.kept:
        output.line(f"kept V{row.version}__{row.name} ({row.agent or 'no agent'}): its 32-bit checksum, unverified (not provided by a requested agent)")
    state = "widened to 64-bit versions" if report.widened else "already 64-bit"
    output.line(f"done: history {state}, {len(report.rerecorded)} checksum(s) re-recorded")
    return ExitCode.OK


WIDEN_HISTORY = Command(_widen_arguments, widen_command)
