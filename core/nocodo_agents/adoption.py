"""Adopting a database whose tables exist but whose history does not: the decision, pure.

Each pending migration's footprint is found by replaying the migrations'
own SQL for the database's dialect, in order, on a scratch copy
(:func:`nocodo_agents.schema.replay.footprints`, offered by each dialect as
``schema_footprints``): the tables, indexes, views, triggers and columns it
creates, and the existing objects it writes to, alters or drops. A
migration whose created objects are wholly present in the live schema is
adopted (recorded, not run); one whose created objects are absent is
applied; one present only in part stops the run.

A migration that creates nothing (it only inserts, updates or deletes rows,
or only drops objects) leaves no trace in the schema, so whether it already
ran cannot be told. When another migration is adopted, such a migration
stops the run (:class:`~nocodo_agents.AdoptionAmbiguousError`) unless every
object it touches is absent from the live database (it writes only to
tables this run creates, so it cannot have run here). So does a migration
whose footprint is unknown because its SQL cannot be replayed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import AdoptionAmbiguousError, PartialSchemaError, migration_facts
from .planning import PlannedMigration


@dataclass(frozen=True)
class Footprint:
    """What one migration does to a schema, seen on the scratch database.

    ``created``: objects it creates, keyed as the dialect's live objects are
    (``"table t"``, ``"column t.c"``, see :mod:`nocodo_agents.schema.keys`).
    ``touched``: bare names of tables, views, indexes and triggers it writes
    rows to, alters or drops (SQLite's own tables left out).
    """

    created: frozenset[str]
    touched: frozenset[str]


@dataclass(frozen=True)
class Adoption:
    """Which pending migrations a history-less database already holds."""

    adopted: tuple[PlannedMigration, ...]


def assess(
    pending: Sequence[PlannedMigration],
    footprint: dict[int, Footprint],
    live: frozenset[str],
) -> Adoption:
    """Decide adoption, changing nothing.

    Raises :class:`PartialSchemaError` if what a migration creates is only
    partly present, and :class:`AdoptionAmbiguousError` if a migration is
    adopted while another one creates nothing (or has an unknown footprint)
    and so cannot be judged applied or not.
    """
    live = frozenset(name.lower() for name in live)  # PostgreSQL folds unquoted names to lower case
    adopted: list[PlannedMigration] = []
    unjudged: list[PlannedMigration] = []
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
            raise PartialSchemaError(
                version=planned.version,
                name=planned.name,
                agent=planned.agent,
                present=sorted(present),
                missing=sorted(missing),
            )
        adopted.append(planned)
    if adopted:
        live_names = frozenset(_object_name(key) for key in live if not key.startswith("column "))
        for planned in unjudged:
            known = footprint.get(planned.version)
            if known is None:
                raise AdoptionAmbiguousError(**migration_facts(planned), adopted=tuple(p.version for p in adopted), touched=())
            touched_live = sorted(known.touched & live_names)
            if touched_live:
                raise AdoptionAmbiguousError(
                    **migration_facts(planned),
                    adopted=tuple(p.version for p in adopted),
                    touched=touched_live,
                )
    return Adoption(tuple(adopted))


def _object_name(key: str) -> str:
    """``"table t"`` -> ``"t"``."""
    return key.partition(" ")[2]


def needs_adoption(pending: Sequence[PlannedMigration], live: frozenset[str]) -> bool:
    """True when the schema holds anything besides history: only then are footprints computed."""
    return bool(pending) and bool(live)
