"""The ready-made checks of an agent's migrations, as plain functions raising :class:`MigrationCheckFailed`.

:func:`~nocodo_agents.testing.migration_checks` turns them into a pytest test
class; they can be called from any test too. Each takes the agents under test
(their names as installed, core and what they require come with them) and a
registry (``None``: the installed agents). Those that need a database take an
open connection to a fresh, empty one (sqlite3, psycopg 3 or PyMySQL, outside
a transaction) and migrate it; the others read the migrations only.

Every failure message says what is wrong (the migration's version, file and
agent) and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..discovery import AgentRegistry, normalize_agent_name
from ..errors import MigrationError, RollbackUnavailableError
from ..lifecycle import rollback_migrations, verify_database
from ..migration import DIALECT_NAMES, Migration, unknown_dialect
from ..planning import PlannedMigration, merge
from ..runner import run_agent_migrations
from .schema_snapshot import describe_schema, schema_changes

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import DBAPIConnection

__all__ = [
    "DIALECTS",
    "MigrationCheckFailed",
    "check_dialect_sql",
    "check_each_migration_upgrades",
    "check_requirements",
    "check_up_down_up",
    "check_verify_after_upgrade",
    "check_versions_unique",
]

#: The dialects the library runs migrations on, as :meth:`Migration.sql` names them.
DIALECTS: tuple[str, ...] = DIALECT_NAMES


class MigrationCheckFailed(AssertionError):
    """A ready-made check found a problem; the message says which migration, what is wrong and what to do."""


def _fail(check: str, problems: Sequence[str], what_to_do: str, bullet: str = "- ") -> MigrationCheckFailed:
    listed = "\n".join(f"  {bullet}{problem}" for problem in problems)
    return MigrationCheckFailed(f"{check}:\n{listed}\n{what_to_do}")


def _registry(registry: AgentRegistry | None) -> AgentRegistry:
    return registry if registry is not None else AgentRegistry.installed()


def _loaded(agents: Sequence[str], registry: AgentRegistry) -> None:
    """Load the agents under test and what they require (a name that is no installed agent fails here), without merging them."""
    try:
        registry.requested_sets(agents)
    except MigrationError as error:
        raise _fail(
            "the agents under test cannot be loaded",
            [str(error)],
            "Fix that first: every other check depends on it.",
        ) from None


def _planned(agents: Sequence[str], registry: AgentRegistry) -> tuple[PlannedMigration, ...]:
    """Core's migrations, the agents' and those of what they require, in version order (refusing what cannot be planned)."""
    _loaded(agents, registry)
    try:
        return merge(registry.requested_sets(agents))
    except MigrationError as error:
        raise _fail(
            "the agents under test cannot be loaded and merged",
            [str(error)],
            "Fix that first: every other check depends on it.",
        ) from None


def checked_dialects(dialects: Sequence[str] | None) -> tuple[str, ...] | None:
    """``dialects`` as a tuple, refusing a single string (its letters are no dialects) and a name no dialect has."""
    if dialects is None:
        return None
    if isinstance(dialects, str):
        raise TypeError(f"dialects= takes a list of dialect names, e.g. dialects=[{dialects!r}], not the string {dialects!r}")
    for name in dialects:
        error = unknown_dialect(name, "each of dialects=")
        if error is not None:
            raise error
    return tuple(dialects)


def _named(planned: PlannedMigration) -> str:
    return f"V{planned.version} {planned.name} of agent {planned.agent!r} ({planned.source})"


def _dialect_of(connection: DBAPIConnection) -> str:
    from ..dialects import dialect_for

    return dialect_for(connection).name


def check_requirements(agents: Sequence[str], registry: AgentRegistry | None = None) -> None:
    """Every agent that the agents under test require (``nocodo_agents_requires``), transitively, is installed and loads."""
    try:
        _registry(registry).requested_sets(agents)
    except MigrationError as error:
        raise _fail(
            "an agent under test, or one it requires, is not installed or does not load",
            [str(error)],
            "Install the required agent's distribution (and list it in your pyproject.toml's dependencies), "
            "or remove it from nocodo_agents_requires().",
        ) from None


def check_versions_unique(agents: Sequence[str], registry: AgentRegistry | None = None) -> None:
    """No version of the agents under test is also a version of another installed agent (core included)."""
    registry = _registry(registry)
    _loaded(agents, registry)
    tested = {normalize_agent_name(agent) for agent in agents}
    claimed: dict[int, list[tuple[str, Migration]]] = {}
    unloaded = []
    for agent in registry.agent_names():
        try:
            migrations = registry.migration_set(agent).migrations
        except MigrationError as error:
            unloaded.append(f"agent {agent!r} does not load, so its versions cannot be compared: {error}")
            continue
        for migration in migrations:
            claimed.setdefault(migration.version, []).append((agent, migration))
    if unloaded:
        raise _fail(
            "other installed agents do not load",
            unloaded,
            "Fix or uninstall that agent's distribution: a run requesting it would fail the same way.",
        )
    problems = []
    for version, claims in sorted(claimed.items()):
        if len(claims) > 1 and tested & {agent for agent, _ in claims}:
            named = " and ".join(f"agent {agent!r} ({migration.source})" for agent, migration in claims)
            problems.append(f"V{version} is claimed by {named}")
    if problems:
        raise _fail(
            "versions of the agents under test collide with other installed agents' versions",
            problems,
            f"Renumber your migration (rename its V<n>__ file): versions are one sequence shared by every agent, "
            f"and the highest installed one is V{max(claimed)}; pick versions no other agent uses.",
        )


def check_dialect_sql(
    agents: Sequence[str], registry: AgentRegistry | None = None, dialects: Sequence[str] | None = None
) -> None:
    """Every migration of the agents under test (and its rollback, if it has one) has SQL for each dialect claimed.

    ``dialects`` ``None``: the agent claims every dialect for which any of its
    migrations has SQL (one migration with ``dialect_sql(mysql=...)`` means
    every migration of the agent needs MySQL SQL).
    """
    registry = _registry(registry)
    dialects = checked_dialects(dialects)
    _loaded(agents, registry)
    problems: list[str] = []
    for agent in agents:
        migrations = registry.migration_set(agent).migrations
        claimed = list(dialects) if dialects is not None else [d for d in DIALECTS if any(_has_sql(m, d) for m in migrations)]
        for migration in migrations:
            for dialect in claimed:
                for kind in ("migration", "rollback"):
                    problem = _sql_problem(migration, kind, dialect)
                    if problem:
                        problems.append(f"V{migration.version} {migration.name} of agent {agent!r} ({migration.source}): {problem}")
    if problems:
        raise _fail(
            "migrations lack SQL for a dialect their agent claims",
            problems,
            "Give each migration() and rollback() SQL for every dialect, e.g. "
            "dialect_sql(sqlite=..., postgresql=..., mysql=...) from nocodo_agents.plugins, "
            "or claim fewer dialects: migration_checks(..., dialects=[...]).",
        )


def _has_sql(migration: Migration, dialect: str) -> bool:
    try:
        return bool(migration.sql(dialect).strip())
    except MigrationError:
        return False


def _sql_problem(migration: Migration, kind: str, dialect: str) -> str | None:
    try:
        sql = migration.sql(dialect) if kind == "migration" else migration.rollback_sql(dialect)
    except MigrationError as error:
        return f"{kind}() has no SQL for {dialect}: {getattr(error, 'problem', error)}"
    if kind == "migration" and not (sql or "").strip():
        return f"migration() returns empty SQL for {dialect}"
    return None


def check_each_migration_upgrades(
    connection: DBAPIConnection, agents: Sequence[str], registry: AgentRegistry | None = None
) -> dict[int, dict[str, str]]:
    """Upgrade a fresh database one version at a time (targeting each version); return the schema after each (``0``: before any).

    The schemas are :func:`~nocodo_agents.testing.describe_schema`'s.
    """
    registry = _registry(registry)
    dialect = _dialect_of(connection)
    schemas = {0: describe_schema(connection)}
    previous = 0
    for planned in _planned(agents, registry):
        try:
            run_agent_migrations(connection, agents, target=planned.version, registry=registry)
        except MigrationError as error:
            raise _fail(
                f"a migration does not upgrade a fresh {dialect} database",
                [f"{_named(planned)}, applied after V{previous}: {error}"],
                f"Fix its {dialect} SQL (run it by hand on a database migrated up to V{previous} to see the server's own message).",
            ) from None
        schemas[planned.version] = describe_schema(connection)
        previous = planned.version
    return schemas


def check_verify_after_upgrade(connection: DBAPIConnection, agents: Sequence[str], registry: AgentRegistry | None = None) -> None:
    """Upgrade a fresh database, then ``verify_database`` finds it consistent: no drift, nothing pending or divergent."""
    registry = _registry(registry)
    _planned(agents, registry)
    dialect = _dialect_of(connection)
    try:
        run_agent_migrations(connection, agents, registry=registry)
        report = verify_database(connection, agents, registry=registry)
    except MigrationError as error:
        raise _fail(
            f"a fresh {dialect} database cannot be upgraded and verified",
            [str(error)],
            f"Fix what it names; test_each_migration_upgrades says which migration fails on {dialect} and after which.",
        ) from None
    problems = []
    if report.has_drift:
        drift = "\n".join(f"      {line}" for line in str(report.drift).splitlines())
        problems.append(f"the live schema differs from what replaying the applied migrations gives:\n{drift}")
    problems += [divergence.message for divergence in report.divergent]
    problems += [f"V{v} is still pending after the upgrade" for v in report.pending]
    problems += [conflict.message for conflict in report.conflicts]
    problems += [f"invalid index {name}" for name in report.invalid_indexes]
    if report.unfinished is not None:
        problems.append(f"an unfinished migration: {report.unfinished}")
    if problems:
        raise _fail(
            f"verify finds the freshly upgraded {report.dialect} database inconsistent",
            problems,
            "A migration whose SQL depends on the session or the server's state (not on the schema alone) replays "
            "differently: make its effect depend on its SQL only.",
        )


def check_up_down_up(connection: DBAPIConnection, agents: Sequence[str], registry: AgentRegistry | None = None) -> None:
    """Upgrade step by step, roll back one version at a time to zero, and upgrade again to the same schema.

    Each rollback must restore the schema as it was before its migration.
    """
    registry = _registry(registry)
    planned = _planned(agents, registry)
    schemas = check_each_migration_upgrades(connection, agents, registry)
    dialect = _dialect_of(connection)
    versions = [0] + [p.version for p in planned]
    for index in range(len(planned) - 1, -1, -1):
        undone, below = planned[index], versions[index]
        try:
            rollback_migrations(connection, below, agents, registry=registry)
        except RollbackUnavailableError as error:
            raise _fail(
                "a migration cannot be rolled back",
                [str(error)],
                "Give it a rollback() undoing it (its SQL for each dialect), or leave this check out: "
                "migration_checks(..., up_down_up=False).",
            ) from None
        except MigrationError as error:
            raise _fail(f"a rollback fails on {dialect}", [f"{_named(undone)}: {error}"], f"Fix its rollback() SQL for {dialect}.") from None
        changes = schema_changes(schemas[below], describe_schema(connection))
        if changes:
            raise _fail(
                f"rolling back {_named(undone)} does not restore the {dialect} schema it was applied to (V{below})",
                changes,
                "Make its rollback() undo exactly what its migration() does (+ is left over, - is missing, ~ is changed).",
                bullet="",
            )
    try:
        run_agent_migrations(connection, agents, registry=registry)
    except MigrationError as error:
        raise _fail(
            f"upgrading again after rolling back to zero fails on {dialect}",
            [str(error)],
            "A rollback() leaves something behind that the migration does not expect (a table, an index, a row): "
            "make each rollback() undo its migration() completely.",
        ) from None
    changes = schema_changes(schemas[versions[-1]], describe_schema(connection))
    if changes:
        raise _fail(
            f"upgrading again after rolling back to zero gives another {dialect} schema than the first upgrade",
            changes,
            "A migration or rollback leaves something behind that changes the next upgrade: make each rollback() undo "
            "its migration() completely.",
            bullet="",
        )
