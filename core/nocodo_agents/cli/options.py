"""The options several commands share, each written once, and the types that check their values.

Importing this module must stay cheap (``--help`` builds every command's
parser): it imports :mod:`argparse` and nothing of the library.
"""

from __future__ import annotations

import argparse

#: Mirrors nocodo_agents.runner.MAX_LOCK_TIMEOUT (not imported: parsing --help must stay cheap).
MAX_LOCK_TIMEOUT = (2**31 - 1) / 1000
#: The lock timeout's range as messages say it.
LOCK_TIMEOUT_RANGE = f"0 to {MAX_LOCK_TIMEOUT:.3f} seconds (about 24.8 days)"
#: Mirrors nocodo_agents.migration.MAX_VERSION: refinery's i64 (int8-versions).
MAX_VERSION = 2**63 - 1

DEFAULT_DATABASE = "sqlite:///nocodo-agents.db"
#: Seconds to wait for another runner's lock unless a setting says otherwise (mirrors the library's default).
DEFAULT_LOCK_TIMEOUT = 60.0

EPILOG = """\
settings: a flag, else its NOCODO_AGENTS_* variable (empty: unset), else [tool.nocodo-agents] in the nearest
pyproject.toml (db, agents, lock-timeout), else the default; `nocodo-agents config` shows them.
database: --db URL, else $NOCODO_AGENTS_DB, else the file's db, else sqlite:///nocodo-agents.db (in the current directory).
URLs: sqlite:///relative/path.db, sqlite:////absolute/path.db, or a plain file path; for SQLite,
?mode=ro and other SQLite URI parameters pass through. postgresql://... and mysql://... open servers.
exit codes: 0 ok, 1 other error, 2 usage, 3 pending (status --check), 4 verification failed,
5 migration failed, 6 database unavailable, 7 unfinished migration or rollback to resolve (status --check, verify),
8 a requested agent claims a version the history records for another agent (renumber it).
"""


def add_common_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options every command takes, before or after its name: the database URL, -v, -q.

    On a command's parser (``top=False``) they default to "not given", so a
    value given before the command's name is not overwritten.
    """
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--db", metavar="URL", default=default, help=f"database URL (default: $NOCODO_AGENTS_DB, the file's db, else {DEFAULT_DATABASE})")
    parser.add_argument("-v", "--verbose", action="count", default=0 if top else argparse.SUPPRESS, help="log more (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", default=False if top else argparse.SUPPRESS, help="print only results and errors")


def lock_seconds(text: str) -> float:
    """``--lock-timeout``: a number of seconds from 0 to :data:`MAX_LOCK_TIMEOUT`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= MAX_LOCK_TIMEOUT:
        raise argparse.ArgumentTypeError(f"must be {LOCK_TIMEOUT_RANGE}, not {text!r}")
    return value


def agent_name(text: str) -> str:
    """``--agent``: a name, not empty (an unset variable in a script), surrounding whitespace removed."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"an agent's name, not {text!r} (an unset variable?)")
    return text.strip()


def add_agent_options(parser: argparse.ArgumentParser) -> None:
    """Options of every command that works on migrations: which agents, how long to wait for the lock."""
    parser.add_argument(
        "--agent", dest="agents", action="append", type=agent_name, metavar="NAME",
        help="include this agent (repeatable); default: $NOCODO_AGENTS_AGENTS, the file's agents, else every installed agent. Core is always included.",
    )
    parser.add_argument(
        "--lock-timeout", type=lock_seconds, default=None, metavar="SECONDS",
        help="how long to wait for another runner's migration lock (default: $NOCODO_AGENTS_LOCK_TIMEOUT, the file's lock-timeout, else 60; 0: do not wait)",
    )


def add_json_option(parser: argparse.ArgumentParser, help: str = "print JSON") -> None:
    """``--json``: print the command's answer as JSON."""
    parser.add_argument("--json", action="store_true", help=help)


def version_number(text: str) -> int:
    """A migration version: ASCII digits, 0 to 2**63 - 1 (refinery's i64)."""
    if not text.isascii() or not text.isdigit():  # int() would also take "1_0", " 5" and non-ASCII digits
        raise argparse.ArgumentTypeError(f"not a version number (ASCII digits 0-9): {text!r}")
    if len(text.lstrip("0")) > 19:  # int() of a huge text is slow; no such number is in range anyway
        raise argparse.ArgumentTypeError(f"version {text[:30]}... is outside 0..{MAX_VERSION}")
    value = int(text)
    if not 0 <= value <= MAX_VERSION:
        raise argparse.ArgumentTypeError(f"version {value} is outside 0..{MAX_VERSION}")
    return value
