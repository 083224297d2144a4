"""MySQL's scratch: a database of its own on the same server and connection, dropped afterwards.

``nocodo_scratch_<random>`` is created with the live database's character
set and collation and made current (``COM_INIT_DB``); migrations are replayed
there as they run (the session's sql_mode, so the same split; foreign keys
on), the session variables a migration's ``SET`` changes are put back before
the scratch schema is described (so both schemas are described in the same
mode: ``ANSI_QUOTES`` changes how CHECK clauses are shown), the live database
is made current again and the scratch database is dropped. DDL commits on
MySQL, so nothing replayed can be undone: each statement first passes
:class:`~.mysql_replay_scope.ReplayScope`, which leaves out statements that
only change rows (or accounts) and refuses one that would reach beyond the
scratch database (naming another database, ``USE``, dynamic SQL...): drift
then fails naming the migration, and adoption counts its footprint unknown.
After a migration that fails or is refused there, the later ones have no
footprint.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from ..adoption import Footprint
from ..errors import DatabaseAccessError
from ..planning import PlannedMigration
from .compare import DriftReport, compare_schemas
from .describe_mysql import describe_mysql, mysql_objects
from .mysql_replay_scope import SKIP, ReplayRefused, ReplayScope
from .mysql_session import SessionVariableGuard
from .query import Query
from .replay import Touched, footprints, replay
from .touched import touched_names

__all__ = ["MySQLAccess", "mysql_drift", "mysql_footprints"]

logger = logging.getLogger("nocodo_agents")


@dataclass(frozen=True)
class MySQLAccess:
    """What the replay needs of the dialect's connection.

    ``run`` reopens the runner's transaction where a statement committed it;
    ``use`` makes a database current; ``refusal`` gives the server's message
    when an error says the user or the server may not write (else ``None``).
    """

    query: Query
    run: Callable[..., Any]
    split: Callable[[str], list[str]]
    use: Callable[[str], None]
    database: str
    mariadb: bool
    location: str
    failures: tuple[type[BaseException], ...]
    refusal: Callable[[BaseException], str | None]


class _Runner:
    """The guard's way to run a statement: the dialect's name and ``run``."""

    name = "mysql"

    def __init__(self, run: Callable[..., Any]) -> None:
        self._run = run

    def execute(self, statement: str) -> None:
        self._run(statement)


class MySQLScratch:
    """A :class:`~.replay.Scratch` in the database ``name``; nothing in it can be undone."""

    def __init__(self, access: MySQLAccess, name: str) -> None:
        self.access = access
        self.name = name
        self.where = f"a scratch database ({name}, dropped afterwards)"
        self.failures = access.failures + (ReplayRefused,)
        self.scope = ReplayScope(name, self._databases)
        #: The owning table or view of each key :meth:`describe` gave.
        self.owners: dict[str, str] = {}
        # SET FOREIGN_KEY_CHECKS... replayed must not stay on the caller's session
        self.session = SessionVariableGuard(_Runner(access.run))

    def statements(self, planned: PlannedMigration) -> list[str]:
        return self.access.split(planned.sql("mysql"))

    def execute(self, statement: str) -> None:
        """Run ``statement`` in the scratch database, unless the scope leaves it out (or refuses it: raises)."""
        if self.scope.action(statement) == SKIP:
            return
        self.session.execute(statement)

    def _databases(self) -> frozenset[str]:
        """The names of the databases this user sees on the server."""
        rows = self.access.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA", ())
        return frozenset(_text(row[0]) for row in rows)

    def describe(self) -> dict[str, str]:
        self.session.restore(quietly=True)
        described, self.owners = describe_mysql(self.access.query, self.name, self.access.mariadb)
        return described

    def objects(self) -> frozenset[str]:
        self.session.restore(quietly=True)
        return mysql_objects(self.access.query, self.name, self.access.mariadb)

    def mark(self) -> None:
        """Nothing to remember: DDL commits."""

    def undo(self) -> bool:
        return False

    def release(self) -> bool:
        return True

    @contextmanager
    def watch(self, statements: list[str]) -> Iterator[Touched]:
        names = touched_names(statements, "mysql")
        yield Touched(None if names is None else set(names))


@contextmanager
def mysql_scratch(access: MySQLAccess, purpose: tuple[str, str, str]) -> Iterator[MySQLScratch]:
    """A scratch database, current while the block runs, dropped afterwards.

    ``purpose``: the check, what it replays, and the command to run as
    another user (``("drift check", "applied migrations", "verify")``).
    """
    check, replayed, command = purpose
    name = f"nocodo_scratch_{secrets.token_hex(6)}"
    charset, collation = access.query(
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
        "WHERE SCHEMA_NAME = %s",
        (access.database,),
    )[0]
    try:
        access.run(f"CREATE DATABASE `{name}` CHARACTER SET %s COLLATE %s", (_text(charset), _text(collation)))
    except access.failures as error:
        refused = access.refusal(error)
        if refused is None:
            raise
        raise DatabaseAccessError(
            database=access.location,
            problem=f"the {check} could not create its scratch database {name} ({refused}). It "
            f"replays the {replayed} in a scratch database on the same server and drops it "
            f"afterwards: grant this user CREATE and DROP on `nocodo\\_scratch\\_%`.*, or {command} "
            f"as a user who may create databases. The live database was not touched.",
        ) from error
    try:
        access.use(name)
        scratch = MySQLScratch(access, name)
        try:
            yield scratch
        finally:
            scratch.session.restore(quietly=True)
            access.use(access.database)
    finally:
        try:
            access.run(f"DROP DATABASE IF EXISTS `{name}`")
        except access.failures as error:
            logger.warning("could not drop the scratch database %s: %s; drop it by hand", name, error)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)


def mysql_drift(access: MySQLAccess, applied: Sequence[PlannedMigration]) -> DriftReport:
    """The live database compared with ``applied`` replayed in a scratch database."""
    live, owners = describe_mysql(access.query, access.database, access.mariadb)
    with mysql_scratch(access, ("drift check", "applied migrations", "verify")) as scratch:
        expected = replay(scratch, applied)
        owner_of = {**scratch.owners, **owners}
    return compare_schemas(expected, live, owner=lambda key, _description: owner_of.get(key))


def mysql_footprints(access: MySQLAccess, pending: Sequence[PlannedMigration]) -> dict[int, Footprint]:
    """What each of ``pending`` creates and touches, its MySQL SQL replayed in a scratch database."""
    with mysql_scratch(access, ("adoption check", "pending migrations", "migrate")) as scratch:
        return footprints(scratch, pending)
