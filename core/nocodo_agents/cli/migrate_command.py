"""``migrate``: apply what is pending (or, ``--dry-run``, print it; ``--fake``, record it), step by step.

Each applied migration is printed as it is committed; on a terminal a live
line under them shows the bar, the elapsed time and the migration last
applied; ``--json`` prints one JSON object per step and a summary instead
(:mod:`.progress`). The handler imports the engine when it runs, not when
this module is imported: building the parser must stay cheap.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Callable

from .command import Command
from .exit_codes import ExitCode
from .options import add_agent_options, add_json_option, version_number
from .output import Output
from .progress import json_line, live_line
from .session import database_url, open_database

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import DBAPIConnection
    from ..engine.reports import MigrationReport, MigrationStep
    from ..urls import DatabaseUrl


def not_requested_notes(report: Any, output: Output) -> None:
    """A note for each applied row no requested agent provides (after ``migrate``, ``migrate --fake``)."""
    if not report.not_installed:
        return
    from .row_notes import not_requested_row_note

    for row in report.not_installed:
        output.line(not_requested_row_note(row))


def step_event(event: str, step: Any, **extra: Any) -> dict[str, Any]:
    """A step of a report as ``--json`` prints it."""
    fields: dict[str, Any] = {
        "event": event, "version": step.version, "name": step.name, "agent": step.agent, "distribution": step.distribution,
    }
    if getattr(step, "out_of_order", False):
        fields["out_of_order"] = True
    if step.duration_ms is not None:
        fields["duration_ms"] = round(step.duration_ms, 3)
    fields.update(extra)
    return fields


def error_event(output: Output, error: BaseException) -> None:
    """With ``--json``, a failed command's last line: the error's class, message and exit code (also on stderr as usual)."""
    from ..urls import redact
    from .exit_codes import exit_code_for

    json_line(output, {"event": "error", "error": type(error).__name__, "message": redact(str(error)), "exit_code": int(exit_code_for(error))})


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
    add_json_option(parser, "print one JSON object per line for each step, then a summary object (an error: an error object)")


def errors_as_json(handler: Callable[[argparse.Namespace, Output], int]) -> Callable[[argparse.Namespace, Output], int]:
    """``handler`` that, given ``--json``, ends a failure with an error object (:func:`error_event`) before raising it on."""

    def run(args: argparse.Namespace, output: Output) -> int:
        try:
            return handler(args, output)
        except Exception as error:
            if args.json:
                error_event(output, error)
            raise

    run.__name__ = handler.__name__.lstrip("_") + "_command"
    run.errors_as_json = True  # type: ignore[attr-defined]  # main() ends a bad setting the same way
    return run


def _migrate(args: argparse.Namespace, output: Output) -> int:
    url = database_url(args)
    with open_database(args, create=not args.dry_run, empty_if_missing=args.dry_run) as conn:
        if args.dry_run:
            return _print_dry_run(conn, args, output, url)
        if args.fake:
            return _record_without_running(conn, args, output, url)
        report = _apply_pending(conn, args, output, url)
    if args.json:
        json_line(output, {
            "event": "summary", "database": str(url), "applied": len(report.applied), "adopted": len(report.adopted),
            "up_to_date": not report.applied and not report.adopted,
            "not_installed": [row.version for row in report.not_installed],
        })
        return ExitCode.OK
    for step in report.adopted:
        output.line(f"adopted V{step.version}__{step.name} ({step.agent}): its tables already existed")
    if report.applied or report.adopted:
        adopted = f", {len(report.adopted)} adopted" if report.adopted else ""
        output.line(f"done: {len(report.applied)} applied{adopted}")
    else:
        output.line("up to date: nothing to apply")
    not_requested_notes(report, output)
    return ExitCode.OK


def _apply_pending(conn: DBAPIConnection, args: argparse.Namespace, output: Output, url: DatabaseUrl) -> MigrationReport:
    """``migrate``: apply what is pending, printing each migration as it is committed."""
    from ..engine.migrate import migrate
    from ..engine.run import open_run

    # one session, one history read; the agents loaded once, before connecting (open_database)
    with open_run(conn, args.agents, None, args.lock_timeout, target=args.target, requested=args.requested) as run:
        pending = len(run.unapplied())
        if pending and not args.json:
            output.line(f"migrating {url}: {pending} pending")
        live = live_line(output, pending, "applied", json=args.json)
        done = 0

        def progress(step: MigrationStep) -> None:
            nonlocal done
            done += 1
            if args.json:
                json_line(output, step_event("applied", step))
                return
            late = " (out of order)" if step.out_of_order else ""
            if live is not None:
                live.clear()
            output.line(
                f"[{done}/{max(pending, done)}] applied V{step.version}__{step.name} "
                f"({step.agent}) in {step.duration_ms or 0:.1f} ms{late}"
            )
            if live is not None:
                live.advance(f"V{step.version}__{step.name}")

        try:
            report = migrate(run, progress, grouped=args.grouped)
        finally:
            if live is not None:
                live.clear()
        if getattr(args, "remember_noop", False) and not report.applied and not report.adopted:
            from .noop_record import history_read

            args.noop_read = history_read(run, url)  # main() remembers the answer once the command is done
        if args.json:
            for step in report.adopted:
                json_line(output, step_event("adopted", step))
        return report


def _record_without_running(conn: DBAPIConnection, args: argparse.Namespace, output: Output, url: DatabaseUrl) -> int:
    """``migrate --fake``."""
    from ..engine.history_ops import record_as_applied

    report = record_as_applied(conn, args.agents, target=args.target, lock_timeout=args.lock_timeout, requested=args.requested)
    if args.json:
        for step in report.adopted:
            json_line(output, step_event("recorded", step))
        json_line(output, {"event": "summary", "database": str(url), "recorded": len(report.adopted), "up_to_date": not report.adopted})
        return ExitCode.OK
    for step in report.adopted:
        output.line(f"recorded V{step.version}__{step.name} ({step.agent}) as applied without running it")
    output.line(f"done: {len(report.adopted)} recorded without running" if report.adopted else "up to date: nothing to record")
    not_requested_notes(report, output)
    return ExitCode.OK


def _print_dry_run(conn: DBAPIConnection, args: argparse.Namespace, output: Output, url: DatabaseUrl) -> int:
    """``migrate --dry-run``: the SQL that would run, with the history inserts."""
    from ..engine.migrate import dry_run_report
    from ..engine.run import open_run

    with open_run(conn, args.agents, None, args.lock_timeout, target=args.target, requested=args.requested) as run:
        report = dry_run_report(run, args.grouped)
    if args.json:
        for step in report.adopted:
            json_line(output, step_event("would-record", step, history_sql=step.history_sql))
        for step in report.applied:
            json_line(output, step_event("would-apply", step, sql=step.sql, history_sql=step.history_sql))
        json_line(output, {
            "event": "summary", "database": str(url), "dry_run": True, "would_apply": len(report.applied),
            "would_record": len(report.adopted), "setup_sql": list(report.setup_sql),
            "up_to_date": not report.applied and not report.adopted,
        })
        return ExitCode.OK
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


migrate_command = errors_as_json(_migrate)
MIGRATE = Command(_migrate_arguments, migrate_command)
