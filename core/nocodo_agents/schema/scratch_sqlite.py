"""SQLite's scratch: an empty in-memory database, where migrations' SQLite SQL is replayed.

What a footprint touches is seen by SQLite itself: an authorizer records
every table, view, index or trigger a statement writes rows to, alters or
drops (SQLite's own tables left out).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..adoption import Footprint
from ..planning import PlannedMigration
from .compare import DriftReport, compare_schemas
from .describe_sqlite import describe_sqlite_schema, sqlite_schema_objects
from .replay import Touched, footprints, replay
from .sqlite_split import split_sqlite_statements

__all__ = ["SQLiteScratch", "expected_sqlite_schema", "sqlite_footprints", "sqlite_scratch", "sqlite_schema_drift"]

#: SQLite authorizer actions that change an existing object, and which argument names it.
_CHANGES = {
    sqlite3.SQLITE_INSERT: 0,
    sqlite3.SQLITE_UPDATE: 0,
    sqlite3.SQLITE_DELETE: 0,
    sqlite3.SQLITE_DROP_TABLE: 0,
    sqlite3.SQLITE_DROP_INDEX: 0,
    sqlite3.SQLITE_DROP_VIEW: 0,
    sqlite3.SQLITE_DROP_TRIGGER: 0,
    sqlite3.SQLITE_ALTER_TABLE: 1,
}


class SQLiteScratch:
    """A :class:`~.replay.Scratch` on an in-memory SQLite connection (autocommit; savepoints undo)."""

    where = "an empty in-memory SQLite database"
    failures = (sqlite3.Error,)

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def statements(self, planned: PlannedMigration) -> list[str]:
        return split_sqlite_statements(planned.sql("sqlite"))

    def execute(self, statement: str) -> None:
        self.connection.execute(statement)

    def describe(self) -> dict[str, str]:
        return describe_sqlite_schema(self.connection)

    def objects(self) -> frozenset[str]:
        return sqlite_schema_objects(self.connection)

    def mark(self) -> None:
        self.connection.execute("SAVEPOINT footprint")

    def undo(self) -> bool:
        try:
            self.connection.execute("ROLLBACK TO footprint")
            self.connection.execute("RELEASE footprint")
        except sqlite3.Error:
            return False  # its SQL ended the savepoint
        return True

    def release(self) -> bool:
        try:
            self.connection.execute("RELEASE footprint")
        except sqlite3.Error:
            return False
        return True

    @contextmanager
    def watch(self, statements: list[str]) -> Iterator[Touched]:
        """SQLite's authorizer names what the statements touch, while they run."""
        touched = Touched(set())

        def authorize(action: int, first: str | None, second: str | None, _db: str | None, _trigger: str | None) -> int:
            position = _CHANGES.get(action)
            if position is not None and touched.names is not None:
                name = (first, second)[position]
                if name and not name.lower().startswith("sqlite_"):
                    touched.names.add(name.lower())
            return sqlite3.SQLITE_OK

        self.connection.set_authorizer(authorize)
        try:
            yield touched
        finally:
            self.connection.set_authorizer(None)


@contextmanager
def sqlite_scratch() -> Iterator[SQLiteScratch]:
    """An empty in-memory database, closed afterwards."""
    connection = sqlite3.connect(":memory:", isolation_level=None)
    try:
        yield SQLiteScratch(connection)
    finally:
        connection.close()


def expected_sqlite_schema(applied: Sequence[PlannedMigration]) -> dict[str, str]:
    """The schema ``applied`` produce, replayed in version order on a scratch in-memory SQLite database.

    Raises :class:`~nocodo_agents.SchemaReplayError` if a statement fails, and
    :class:`~nocodo_agents.InvalidMigrationError` if a migration has no
    SQLite SQL.
    """
    with sqlite_scratch() as scratch:
        return replay(scratch, applied)


def sqlite_schema_drift(connection: sqlite3.Connection, applied: Sequence[PlannedMigration]) -> DriftReport:
    """Drift of the SQLite database ``connection`` from the schema ``applied`` produce.

    ``applied`` are the installed migrations whose versions the history
    records (any order). Reads ``connection`` only.
    """
    return compare_schemas(expected_sqlite_schema(applied), describe_sqlite_schema(connection))


def sqlite_footprints(pending: Sequence[PlannedMigration]) -> dict[int, Footprint]:
    """What each of ``pending`` creates and touches, from its SQLite SQL replayed on a scratch database."""
    with sqlite_scratch() as scratch:
        return footprints(scratch, pending)
