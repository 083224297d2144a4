"""Adopting a database whose tables exist but whose history does not.

Each pending migration's footprint (the tables, indexes, views, triggers
and columns it creates) is found by running the migrations in order on a
scratch in-memory SQLite database. A migration whose footprint is wholly
present in the live schema is adopted (recorded, not run); one whose
footprint is absent is applied; one present only in part stops the run.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Dict, FrozenSet, Sequence, Tuple

from .errors import PartialSchemaError
from .planning import PlannedMigration


def footprints(pending: Sequence[PlannedMigration]) -> Dict[int, FrozenSet[str]]:
    """What each migration creates, from its SQLite SQL run on a scratch database.

    Migrations whose SQL cannot run on SQLite, and every later one, get an
    empty footprint (they are applied, never adopted).
    """
    from .dialects.sqlite import split_sqlite_statements, sqlite_schema_objects

    result: Dict[int, FrozenSet[str]] = {}
    scratch = sqlite3.connect(":memory:")
    try:
        before = sqlite_schema_objects(scratch)
        for planned in pending:
            try:
                for statement in split_sqlite_statements(planned.sql("sqlite")):
                    scratch.execute(statement)
            except Exception:
                break
            after = sqlite_schema_objects(scratch)
            result[planned.version] = after - before
            before = after
    finally:
        scratch.close()
    return result


@dataclass(frozen=True)
class Adoption:
    """Which pending migrations a history-less database already holds."""

    adopted: Tuple[PlannedMigration, ...]


def assess(
    pending: Sequence[PlannedMigration],
    footprint: Dict[int, FrozenSet[str]],
    live: FrozenSet[str],
) -> Adoption:
    """Decide adoption; raise :class:`PartialSchemaError` if a footprint is only partly present."""
    adopted = []
    live = frozenset(name.lower() for name in live)  # PostgreSQL folds unquoted names to lower case
    for planned in pending:
        created = frozenset(name.lower() for name in footprint.get(planned.version, frozenset()))
        present = created & live
        if not created or not present:
            continue
        missing = created - live
        if missing:
            raise PartialSchemaError(
                planned.version, planned.name, planned.agent, sorted(present), sorted(missing)
            )
        adopted.append(planned)
    return Adoption(tuple(adopted))


def needs_adoption(pending: Sequence[PlannedMigration], live: FrozenSet[str]) -> bool:
    """True when the schema holds anything besides history: only then are footprints computed."""
    return bool(pending) and bool(live)
