"""Which database a command uses, and opening it for the length of the command."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .options import DEFAULT_DATABASE

if TYPE_CHECKING:  # pragma: no cover
    from ..urls import DatabaseUrl

#: The environment variable naming the database when --db is not given.
DATABASE_ENV = "NOCODO_AGENTS_DB"


def database_url(args: argparse.Namespace) -> DatabaseUrl:
    """--db, else $NOCODO_AGENTS_DB, else the default SQLite file in the current directory.

    An empty ``--db ""`` is a usage error (a script passing an unset
    variable), never the default file; an empty ``NOCODO_AGENTS_DB=`` counts
    as unset, as an empty line in an environment file means.
    """
    from ..urls import parse_database_url  # when a command runs: parsing --help needs no URL

    given = getattr(args, "db", None)
    if given is not None:
        return parse_database_url(given)
    return parse_database_url(os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE)


@contextmanager
def open_database(args: argparse.Namespace, *, create: bool, empty_if_missing: bool = False) -> Iterator[Any]:
    """A connection to the command's database, closed afterwards.

    ``create=False`` (read-only commands, repair, rollback) refuses a SQLite
    file that does not exist instead of creating an empty one;
    ``empty_if_missing`` uses an empty in-memory database for it instead.
    A command taking ``--agent`` has the requested agents loaded first
    (what they require included): an unknown or missing agent, a plugin
    that fails to load, two agents claiming one version are reported before
    the database is touched (no SQLite file created, no server connected).
    They are kept as ``args.requested`` (a :class:`~nocodo_agents.engine.run.Requested`)
    for a command that opens its run itself to pass on, so they are loaded once.
    """
    if hasattr(args, "agents"):
        from ..engine.run import requested_migrations

        args.requested = requested_migrations(args.agents)
    connection = database_url(args).connect(create=create, empty_if_missing=empty_if_missing)
    try:
        yield connection
    finally:
        connection.close()
