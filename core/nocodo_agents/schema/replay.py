"""Replaying migrations on a scratch copy of a schema: written once, for every dialect.

Drift and adoption both need to know what migrations produce without
touching the live database. Each dialect offers a :class:`Scratch`, a place
of its own where its SQL can run and be undone: SQLite an empty in-memory
database (:mod:`.scratch_sqlite`), PostgreSQL a scratch schema inside a
transaction that is rolled back (:mod:`.scratch_postgresql`), MySQL a
scratch database dropped afterwards (:mod:`.scratch_mysql`). The replay runs
each migration's OWN SQL for that dialect, in the order given (version
order, but for agent requirements):

* :func:`replay` gives the schema the applied migrations produce, described
  as drift compares it; a statement that fails raises
  :class:`~nocodo_agents.SchemaReplayError` naming the migration.
* :func:`footprints` gives, for each pending migration, the objects it
  creates (the scratch's objects after it minus those before it) and the
  existing objects it writes to, alters or drops, for adoption
  (:func:`nocodo_agents.adoption.assess`). A migration that cannot be
  replayed has no footprint (unknown): it is undone where the dialect can
  (a savepoint) and the later ones replayed without it; where it cannot
  (MySQL: DDL commits), the later ones have no footprint either.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from ..adoption import Footprint
from ..errors import SchemaReplayError, migration_facts
from ..planning import PlannedMigration

__all__ = ["Scratch", "Touched", "footprints", "replay", "replay_migration"]


@dataclass
class Touched:
    """The bare names of the existing objects a migration writes to, alters or drops; ``None`` if unknown."""

    names: set[str] | None


class Scratch(Protocol):
    """A dialect's place to replay migrations; see the module docstring."""

    #: Where the replay runs, as :class:`SchemaReplayError` says it (``"an empty in-memory SQLite database"``).
    where: str
    #: The errors a replayed statement fails with (the driver's).
    failures: tuple[type[BaseException], ...]

    def statements(self, planned: PlannedMigration) -> list[str]:
        """The migration's SQL for this dialect, as it is replayed here, split into statements."""

    def execute(self, statement: str) -> None:
        """Run one replayed statement."""

    def describe(self) -> dict[str, str]:
        """The scratch schema as drift compares it (``{key: description}``)."""

    def objects(self) -> frozenset[str]:
        """The scratch schema's objects as adoption compares them (``table t``, ``column t.c``...)."""

    def mark(self) -> None:
        """Before a migration's footprint is taken: remember the state :meth:`undo` goes back to."""

    def undo(self) -> bool:
        """Go back to the state :meth:`mark` remembered; ``False`` where that cannot be done."""

    def release(self) -> bool:
        """Keep what ran since :meth:`mark`; ``False`` if the scratch state is unknown from here on."""

    def watch(self, statements: list[str]) -> AbstractContextManager[Touched]:
        """While ``statements`` run inside it: the existing objects they touch."""


def replay_migration(scratch: Scratch, planned: PlannedMigration, statements: Sequence[str]) -> None:
    """Run ``statements`` of ``planned`` on ``scratch``; a failing one raises :class:`SchemaReplayError`."""
    for index, statement in enumerate(statements):
        try:
            scratch.execute(statement)
        except scratch.failures as error:
            raise SchemaReplayError(
                **migration_facts(planned),
                statement=statement,
                statement_index=index,
                cause=error,
                scratch=scratch.where,
            ) from error


def replay(scratch: Scratch, applied: Sequence[PlannedMigration]) -> dict[str, str]:
    """The schema ``applied`` produce when replayed in the order given on ``scratch``, described.

    The runner gives them in the order a fresh database gets them: version
    order, but for agent requirements (:func:`~nocodo_agents.planning.replay_order`).
    """
    for planned in applied:
        replay_migration(scratch, planned, scratch.statements(planned))
    return scratch.describe()


def footprints(scratch: Scratch, pending: Sequence[PlannedMigration]) -> dict[int, Footprint]:
    """What each of ``pending`` (in version order) creates and touches, replayed one after another on ``scratch``.

    A migration whose SQL cannot be produced, split or run there has no
    entry (its footprint is unknown), nor has one that creates nothing and
    whose touched objects cannot be told (:class:`Touched` ``names`` is
    ``None``). Either way adoption counts it as one it cannot judge.
    """
    result: dict[int, Footprint] = {}
    before = scratch.objects()
    for planned in pending:
        scratch.mark()
        try:
            statements = scratch.statements(planned)
            with scratch.watch(statements) as touched:
                replay_migration(scratch, planned, statements)
        except Exception:  # no SQL for this dialect, unsplittable, or a statement failed: unknown
            if not scratch.undo():
                break  # the scratch state is unknown from here on
            continue
        if not scratch.release():
            break
        after = scratch.objects()
        created = after - before
        if created or touched.names is not None:
            result[planned.version] = Footprint(created, frozenset(touched.names or ()))
        before = after
    return result
