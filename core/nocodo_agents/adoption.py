"""Adopting a database whose tables exist but whose history does not.

Each pending migration's footprint is found by running the migrations in
order on a scratch in-memory SQLite database: the tables, indexes, views,
triggers and columns it creates, and the existing objects it writes to,
alters or drops. A migration whose created objects are wholly present in
the live schema is adopted (recorded, not run); one whose created objects
are absent is applied; one present only in part stops the run.

A migration that creates nothing (it only inserts, updates or deletes rows,
or only drops objects) leaves no trace in the schema, so whether it already
ran cannot be told. When another migration is adopted, such a migration
stops the run (:class:`~nocodo_agents.AdoptionAmbiguousError`) unless every
object it touches is absent from the live database (it writes only to
tables this run creates, so it cannot have run here). So does a migration
whose footprint is unknown because its SQLite SQL cannot be replayed.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from .errors import AdoptionAmbiguousError, PartialSchemaError
from .planning import PlannedMigration

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


@dataclass(frozen=True)
class Footprint:
    """What one migration does to a schema, seen on the scratch database.

    ``created``: objects it creates, as ``"table t"``, ``"column t.c"``...
    ``touched``: bare names of tables, views, indexes and triggers it writes
    rows to, alters or drops (SQLite's own tables left out).
    """

    created: FrozenSet[str]
    touched: FrozenSet[str]


def footprints(pending: Sequence[PlannedMigration]) -> Dict[int, Footprint]:
    """What each migration creates and touches, from its SQLite SQL run on a scratch database.

    A migration whose SQL cannot be produced for SQLite or fails there has
    no entry (its footprint is unknown); it is undone on the scratch
    database and the later ones are replayed without it (those that build
    on it fail in turn).
    """
    from .dialects.sqlite import split_sqlite_statements, sqlite_schema_objects

    result: Dict[int, Footprint] = {}
    touched: Set[str] = set()

    def watch(action: int, first: Optional[str], second: Optional[str], _db: Optional[str], _trigger: Optional[str]) -> int:
        position = _CHANGES.get(action)
        if position is not None:
            name = (first, second)[position]
            if name and not name.lower().startswith("sqlite_"):
                touched.add(name.lower())
        return sqlite3.SQLITE_OK

    scratch = sqlite3.connect(":memory:", isolation_level=None)
    try:
        before = sqlite_schema_objects(scratch)
        for planned in pending:
            touched.clear()
            scratch.execute("SAVEPOINT footprint")
            try:
                statements = split_sqlite_statements(planned.sql("sqlite"))
                scratch.set_authorizer(watch)
                try:
                    for statement in statements:
                        scratch.execute(statement)
                finally:
                    scratch.set_authorizer(None)
            except Exception:
                try:
                    scratch.execute("ROLLBACK TO footprint")
                    scratch.execute("RELEASE footprint")
                except sqlite3.Error:
                    break  # its SQL ended the savepoint: the scratch state is unknown from here on
                continue
            try:
                scratch.execute("RELEASE footprint")
            except sqlite3.Error:
                break
            after = sqlite_schema_objects(scratch)
            result[planned.version] = Footprint(after - before, frozenset(touched))
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
    footprint: Dict[int, Footprint],
    live: FrozenSet[str],
) -> Adoption:
    """Decide adoption, changing nothing.

    Raises :class:`PartialSchemaError` if what a migration creates is only
    partly present, and :class:`AdoptionAmbiguousError` if a migration is
    adopted while another one creates nothing (or has an unknown footprint)
    and so cannot be judged applied or not.
    """
    live = frozenset(name.lower() for name in live)  # PostgreSQL folds unquoted names to lower case
    adopted: List[PlannedMigration] = []
    unjudged: List[PlannedMigration] = []
    for planned in pending:
        known = footprint.get(planned.version)
        created = frozenset(name.lower() for name in known.created) if known is not None else frozenset()
        if not created:
            unjudged.append(planned)
            continue
        present = created & live
        if not present:
            continue
        missing = created - live
        if missing:
            raise PartialSchemaError(planned.version, planned.name, planned.agent, sorted(present), sorted(missing))
        adopted.append(planned)
    if adopted:
        live_names = frozenset(_object_name(key) for key in live if not key.startswith("column "))
        for planned in unjudged:
            known = footprint.get(planned.version)
            if known is None:
                raise AdoptionAmbiguousError(planned, tuple(p.version for p in adopted), ())
            touched_live = sorted(known.touched & live_names)
            if touched_live:
                raise AdoptionAmbiguousError(planned, tuple(p.version for p in adopted), touched_live)
    return Adoption(tuple(adopted))


def _object_name(key: str) -> str:
    """``"table t"`` -> ``"t"``."""
    return key.partition(" ")[2]


def needs_adoption(pending: Sequence[PlannedMigration], live: FrozenSet[str]) -> bool:
    """True when the schema holds anything besides history: only then are footprints computed."""
    return bool(pending) and bool(live)
