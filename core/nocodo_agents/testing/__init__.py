"""Testing an agent: ready-made checks of its migrations, fresh databases, schema snapshots.

The pytest plugin (:mod:`nocodo_agents.pytest_plugin`, loaded in every pytest
session where nocodo-agents is installed) provides the fixtures; this package
holds what they and an agent's tests use:

- :func:`migration_checks`: the ready-made checks as one test class
  (``TestMyAgentMigrations = migration_checks("my_agent")``);
- the checks one by one, as functions raising :class:`MigrationCheckFailed`
  (:mod:`nocodo_agents.testing.checks`);
- :func:`fresh_database`: a new SQLite file, or a database of its own on a
  PostgreSQL or MySQL/MariaDB server, removed afterwards;
- :func:`describe_schema`: the live schema as drift detection describes it.
"""

from .check_class import MigrationChecks, migration_checks
from .checks import (
    DIALECTS,
    MigrationCheckFailed,
    check_dialect_sql,
    check_each_migration_upgrades,
    check_requirements,
    check_up_down_up,
    check_verify_after_upgrade,
    check_versions_unique,
)
from .fresh_database import fresh_database
from .schema_snapshot import describe_schema, schema_changes

__all__ = [
    "DIALECTS",
    "MigrationCheckFailed",
    "MigrationChecks",
    "check_dialect_sql",
    "check_each_migration_upgrades",
    "check_requirements",
    "check_up_down_up",
    "check_verify_after_upgrade",
    "check_versions_unique",
    "describe_schema",
    "fresh_database",
    "migration_checks",
    "schema_changes",
]
