"""The command line's arguments: one subparser per command, each with --help."""

from __future__ import annotations

import argparse

from .._version import __version__

#: Mirrors nocodo_agents.runner.MAX_LOCK_TIMEOUT (not imported: parsing --help must stay cheap).
MAX_LOCK_TIMEOUT = (2**31 - 1) / 1000

DEFAULT_DATABASE = "sqlite:///nocodo-agents.db"

EPILOG = """\
database: --db URL, else $NOCODO_AGENTS_DB (empty: unset), else sqlite:///nocodo-agents.db (in the current directory).
URLs: sqlite:///relative/path.db, sqlite:////absolute/path.db, or a plain file path; for SQLite,
?mode=ro and other SQLite URI parameters pass through. postgresql://... and mysql://... open servers.
exit codes: 0 ok, 1 other error, 2 usage, 3 pending (status --check), 4 verification failed,
5 migration failed, 6 database unavailable, 7 unfinished migration or rollback to resolve (status --check, verify).
"""


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options every command takes, before or after its name."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--db", metavar="URL", default=default, help="database URL (default: $NOCODO_AGENTS_DB or %s)" % DEFAULT_DATABASE)
    parser.add_argument("-v", "--verbose", action="count", default=0 if top else argparse.SUPPRESS, help="log more (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", default=False if top else argparse.SUPPRESS, help="print only results and errors")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= MAX_LOCK_TIMEOUT:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_LOCK_TIMEOUT:g} seconds (about 24.8 days), not {text!r}")
    return value


def _agents(parser: argparse.ArgumentParser) -> None:
    """Options of every command that works on migrations: which agents, how long to wait for the lock."""
    parser.add_argument(
        "--agent", dest="agents", action="append", metavar="NAME",
        help="include this agent (repeatable); default: every installed agent. Core is always included.",
    )
    parser.add_argument(
        "--lock-timeout", type=_seconds, default=60.0, metavar="SECONDS",
        help="how long to wait for another runner's migration lock (default 60; 0: do not wait)",
    )


def _version(text: str) -> int:
    if not text.isascii() or not text.isdigit():  # int() would also take "1_0", " 5" and non-ASCII digits
        raise argparse.ArgumentTypeError(f"not a version number (ASCII digits 0-9): {text!r}")
    value = int(text)
    if not 0 <= value <= 2**31 - 1:
        raise argparse.ArgumentTypeError(f"version {value} is outside 0..{2**31 - 1}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nocodo-agents",
        description="Migrate and inspect the database of nocodo-agents and its installed agents.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"nocodo-agents {__version__}")
    _common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, aliases: "list[str] | None" = None) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=help_text, description=help_text, aliases=aliases or [], epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _common(sub, top=False)
        sub.set_defaults(command=name)
        return sub

    agents = command("agents", "list installed agents: distribution, version, entry point, migration versions")
    agents.add_argument("--json", action="store_true", help="print JSON")

    status = command("status", "one row per migration version: applied, pending, out of order, not installed, divergent", ["info"])
    _agents(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.add_argument("--check", action="store_true", help="exit 3 if anything is pending, 4 if anything diverges, 7 if a migration or rollback is unfinished")

    migrate = command("migrate", "apply pending migrations, printing each as it goes")
    _agents(migrate)
    migrate.add_argument("--target", type=_version, metavar="V", help="stop after version V")
    mode = migrate.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the SQL that would run, with the history inserts; change nothing")
    mode.add_argument("--fake", action="store_true", help="record pending migrations as applied without running them")

    verify = command("verify", "check applied checksums against installed files and the live schema against the migrations")
    _agents(verify)
    verify.add_argument("--json", action="store_true", help="print JSON")

    repair = command("repair", "re-record checksums of divergent applied migrations, only if the schema has not drifted")
    _agents(repair)

    baseline = command("baseline", "adopt a database without history: record every migration up to V as applied")
    _agents(baseline)
    baseline.add_argument("--version", dest="baseline_version", type=_version, required=True, metavar="V", help="the version the existing schema is at")

    rollback = command("rollback", "undo applied migrations above V, newest first, using their rollback()")
    _agents(rollback)
    rollback.add_argument("--to", type=_version, required=True, metavar="V", help="keep versions up to V")
    rollback.add_argument("--dry-run", action="store_true", help="print the rollback SQL; change nothing")

    resolve = command("resolve", "settle a migration that stopped part-way (MySQL): after fixing the schema by hand")
    _agents(resolve)
    resolve.add_argument("version", type=_version, metavar="V", help="the unfinished migration's version")
    outcome = resolve.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--applied", action="store_true", help="the schema now has it fully applied: record it")
    outcome.add_argument("--absent", action="store_true", help="the schema now has none of it: leave it pending")

    new = command("new", "create the next V{n}__{name}.py migration module in an agent package")
    new.add_argument("package", metavar="AGENT_PACKAGE", help="import name of the agent package (or of its migrations package)")
    new.add_argument("name", metavar="NAME", help="migration name: letters, digits, underscores")
    new.add_argument("--version", dest="new_version", type=_version, metavar="N", help="use this version instead of the next free one")
    return parser
