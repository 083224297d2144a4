"""Commands that change the database: migrate, baseline, rollback, repair, resolve, widen-history.

Each command's arguments are declared beside its handler, and the two are
put together in a :class:`~.command.Command` (``MIGRATE``, ``BASELINE``...).
The handlers import the engine when they run, not when this module is
imported: building the parser must stay cheap.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .command import Command
from .exit_codes import ExitCode
from .options import add_agent_options, version_number
from .output import Output
from .session import database_url, open_database

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.reports import MigrationReport
    from ..urls import DatabaseUrl


def _notes(report: MigrationReport, output: Output) -> None:
    if not report.not_installed:
        return
    from .row_notes import not_requested_row_note

    for row in report.not_installed:
        output.line(not_requested_row_note(row))


# migrate

def _migrate_arguments(parser: argparse.ArgumentParser) -> None:
    add_agent_options(parser)
    parser.add_argument("--target", type=version_number, metavar="V", help="stop after version V")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the SQL that would run, with the history inserts; change nothing")
    mode.add_argument("--fake", action="store_true", help="record pending migrations as applied without running them")
    parser.add_argument(
        "--grouped",
        action="store_true",
        help="apply every pending migration in one transaction: a failure rolls back the whole run "
        "(SQLite and PostgreSQL; refused on MySQL/MariaDB and with a transactional = False migration)",
    )


def migrate_command(args: argparse.Namespace, output: Output) -> int:
    url = database_url(args)
    with open_database(args, create=not args.dry_run, empty_if_missing=args.dry_run) as conn:
        if args.dry_run:
            return _print_dry_run(conn, args, output)
        if args.fake:
            return _record_without_running(conn, args, output)
        report = _apply_pending(conn, args, output, url)
    for step in report.adopted:
        output.line(f"adopted V{step.version}__{step.name} ({step.agent}): its tables already existed")
    if report.applied or report.adopted:
        adopted = f", {len(report.adopted)} adopted" if report.adopted else ""
        output.line(f"done: {len(report.applied)} applied{adopted}")
    else:
        output.line("up to date: nothing to apply")
    _notes(report, output)
    return ExitCode.OK


def _apply_pending(conn: Any, args: argparse.Namespace, output: Output, url: DatabaseUrl) -> MigrationReport:
    """``migrate``: apply what is pending, printing each migration as it is committed."""
    from ..engine.migrate import migrate
    from ..engine.reports import MigrationStep
    from ..engine.run import open_run

    # one session, one history read; the agents loaded once, before connecting (open_database)
    with open_run(conn, args.agents, None, args.lock_timeout, target=args.target, requested=args.requested) as run:
        pending = len(run.unapplied())
        if pending:
            output.line(f"migrating {url}: {pending} pending")
        done = 0

        def progress(step: MigrationStep) -> None:
            nonlocal done
            done += 1
            late = " (out of order)" if step.out_of_order else ""
            output.line(
                f"[{done}/{max(pending, done)}] applied V{step.version}__{step.name} "
                f"({step.agent}) in {step.duration_ms or 0:.1f} ms{late}"
            )

        report = migrate(run, progress, grouped=args.grouped)
        if getattr(args, "remember_noop", False) and not report.applied and not report.adopted:
            from .noop_record import history_read

            args.noop_read = history_read(run, url)  # main() remembers the answer once the command is done
        return report


def _record_without_running(conn: Any, args: argparse.Namespace, output: Output) -> int:
    """``migrate --fake``."""
    from ..engine.history_ops import record_as_applied

    report = record_as_applied(conn, args.agents, target=args.target, lock_timeout=args.lock_timeout, requested=args.requested)
    for step in report.adopted:
        output.line(f"recorded V{step.version}__{step.name} ({step.agent}) as applied without running it")
    output.line(f"done: {len(report.adopted)} recorded without running" if report.adopted else "up to date: nothing to record")
    _notes(report, output)
    return ExitCode.OK


def _print_dry_run(conn: Any, args: argparse.Namespace, output: Output) -> int:
    """``migrate --dry-run``: the SQL that would run, with the history inserts."""
    from ..engine.migrate import dry_run_report
    from ..engine.run import open_run

    with open_run(conn, args.agents, None, args.lock_timeout, target=args.target, requested=args.requested) as run:
        report = dry_run_report(run, args.grouped)
    if not report.applied and not report.adopted:
        output.line("-- up to date: nothing would run")
    for statement in report.setup_sql:
        output.result(f"{statement};")
    for step in report.adopted:
        output.result(f"-- V{step.version}__{step.name} (agent {step.agent}): its objects exist; it would be recorded, not run")
        output.result(step.history_sql or "")
    for step in report.applied:
        late = ", out of order" if step.out_of_order else ""
        output.result(f"-- V{step.version}__{step.name} (agent {step.agent}, distribution {step.distribution}{late})")
        output.result((step.sql or "").strip("\n"))
        output.result(step.history_sql or "")
    return ExitCode.OK


MIGRATE = Command(_migrate_arguments, migrate_command)


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


def rollback_command(args: argparse.Namespace, output: Output) -> int:
    from ..engine.reports import RollbackStep
    from ..engine.rollback import rollback_migrations

    def progress(step: RollbackStep) -> None:
        output.line(f"rolled back V{step.version}__{step.name} ({step.agent}) in {step.duration_ms or 0:.1f} ms")

    with open_database(args, create=False) as conn:
        report = rollback_migrations(
            conn, args.to, args.agents, dry_run=args.dry_run, progress=progress, lock_timeout=args.lock_timeout, requested=args.requested
        )
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
