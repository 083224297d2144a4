"""Commands that change the database: migrate, baseline, rollback, repair."""

from __future__ import annotations

import argparse

from ..engine.history_ops import baseline, record_as_applied, repair_history, resolve_unfinished
from ..engine.migrate import migrate, run_agent_migrations
from ..engine.reports import MigrationReport, MigrationStep, RollbackStep
from ..engine.rollback import rollback_migrations
from ..engine.run import open_run
from .exit_codes import ExitCode
from .output import Output
from .session import database_url, open_database


def _notes(report: MigrationReport, output: Output) -> None:
    for row in report.not_installed:
        output.line(f"note: V{row.version}__{row.name} is applied but not installed (agent {row.agent})")


def migrate_command(args: argparse.Namespace, output: Output) -> int:
    url = database_url(args)
    with open_database(args, create=not args.dry_run, empty_if_missing=args.dry_run) as conn:
        if args.dry_run:
            return _print_dry_run(run_agent_migrations(conn, args.agents, target=args.target, dry_run=True, lock_timeout=args.lock_timeout), output)
        if args.fake:
            report = record_as_applied(conn, args.agents, target=args.target, lock_timeout=args.lock_timeout)
            for step in report.adopted:
                output.line(f"recorded V{step.version}__{step.name} ({step.agent}) as applied without running it")
            output.line(f"done: {len(report.adopted)} recorded without running" if report.adopted else "up to date: nothing to record")
            _notes(report, output)
            return ExitCode.OK
        with open_run(conn, args.agents, None, args.lock_timeout, target=args.target) as run:  # one session, one history read
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

            report = migrate(run, progress)
    for step in report.adopted:
        output.line(f"adopted V{step.version}__{step.name} ({step.agent}): its tables already existed")
    if report.applied or report.adopted:
        adopted = f", {len(report.adopted)} adopted" if report.adopted else ""
        output.line(f"done: {len(report.applied)} applied{adopted}")
    else:
        output.line("up to date: nothing to apply")
    _notes(report, output)
    return ExitCode.OK


def _print_dry_run(report: MigrationReport, output: Output) -> int:
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


def baseline_command(args: argparse.Namespace, output: Output) -> int:
    with open_database(args, create=False) as conn:
        report = baseline(conn, args.baseline_version, args.agents, lock_timeout=args.lock_timeout)
    for step in report.adopted:
        output.line(f"recorded V{step.version}__{step.name} ({step.agent}) as applied (baseline)")
    output.line(f"done: baseline at version {args.baseline_version}, {len(report.adopted)} recorded")
    return ExitCode.OK


def rollback_command(args: argparse.Namespace, output: Output) -> int:
    def progress(step: RollbackStep) -> None:
        output.line(f"rolled back V{step.version}__{step.name} ({step.agent}) in {step.duration_ms or 0:.1f} ms")

    with open_database(args, create=False) as conn:
        report = rollback_migrations(conn, args.to, args.agents, dry_run=args.dry_run, progress=progress, lock_timeout=args.lock_timeout)
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


def repair_command(args: argparse.Namespace, output: Output) -> int:
    with open_database(args, create=False) as conn:
        report = repair_history(conn, args.agents, lock_timeout=args.lock_timeout)
    for row in report.repaired:
        output.line(f"re-recorded V{row.version}__{row.name} ({row.agent}): checksum {row.checksum}")
    output.line(f"done: {len(report.repaired)} re-recorded" if report.repaired else "nothing to repair: every applied migration matches its file")
    return ExitCode.OK


def resolve_command(args: argparse.Namespace, output: Output) -> int:
    with open_database(args, create=False) as conn:  # ResolveRefusedError: exit 2 (exit_codes)
        row = resolve_unfinished(conn, args.version, args.applied, args.agents, lock_timeout=args.lock_timeout)
    if row is not None:
        output.line(f"recorded V{row.version}__{row.name} ({row.agent}) as applied; migrations can run again")
    else:
        output.line(f"V{args.version} recorded as absent (not applied); migrations can run again")
    return ExitCode.OK
