"""``migration_checks(...)``: the ready-made checks as one pytest test class, enabled in one line of an agent's test suite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

from ..discovery import AgentRegistry
from . import checks

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import DBAPIConnection

__all__ = ["MigrationChecks", "migration_checks"]


def _check(check: Callable[..., Any], *arguments: Any) -> None:
    """Run ``check``; a failure ends the test with its message alone (the check's own traceback says nothing to its reader)."""
    try:
        check(*arguments)
        return
    except checks.MigrationCheckFailed as failure:
        message = str(failure)
    import pytest

    pytest.fail(message, pytrace=False)  # outside the except: no "during handling of the above exception"


class MigrationChecks:
    """The ready-made checks of :mod:`nocodo_agents.testing.checks` as test methods (see :func:`migration_checks`).

    The methods use the pytest plugin's fixtures: ``nocodo_connection`` (a
    fresh, empty database: SQLite unless ``--nocodo-db-url`` names a server)
    and ``nocodo_registry`` (the installed agents; override that fixture to
    test agents registered in-process).
    """

    #: The agents under test.
    agents: Sequence[str] = ()
    #: The dialects their migrations claim (``None``: every dialect any of their migrations has SQL for).
    dialects: Sequence[str] | None = None
    #: Whether to run the up/down/up check (every migration needs a rollback).
    up_down_up: bool = True

    def test_requirements_are_installed(self, nocodo_registry: AgentRegistry) -> None:
        """Every agent the agents under test require is installed and loads."""
        _check(checks.check_requirements, self.agents, nocodo_registry)

    def test_versions_do_not_collide(self, nocodo_registry: AgentRegistry) -> None:
        """No version of the agents under test is another installed agent's version."""
        _check(checks.check_versions_unique, self.agents, nocodo_registry)

    def test_sql_for_each_dialect(self, nocodo_registry: AgentRegistry) -> None:
        """Every migration and rollback has SQL for each dialect claimed."""
        _check(checks.check_dialect_sql, self.agents, nocodo_registry, self.dialects)

    def test_each_migration_upgrades(self, nocodo_connection: DBAPIConnection, nocodo_registry: AgentRegistry) -> None:
        """A fresh database upgrades one version at a time."""
        _check(checks.check_each_migration_upgrades, nocodo_connection, self.agents, nocodo_registry)

    def test_verify_after_upgrade(self, nocodo_connection: DBAPIConnection, nocodo_registry: AgentRegistry) -> None:
        """``verify`` finds a freshly upgraded database consistent (no drift)."""
        _check(checks.check_verify_after_upgrade, nocodo_connection, self.agents, nocodo_registry)

    def test_up_down_up(self, nocodo_connection: DBAPIConnection, nocodo_registry: AgentRegistry) -> None:
        """Each rollback restores the schema before its migration, and upgrading again gives the same schema."""
        if not self.up_down_up:
            import pytest

            pytest.skip("up_down_up=False: the agent's migrations are not expected to roll back")
        _check(checks.check_up_down_up, nocodo_connection, self.agents, nocodo_registry)


def migration_checks(
    *agents: str, dialects: Sequence[str] | None = None, up_down_up: bool = True
) -> type[MigrationChecks]:
    """A test class running the ready-made checks on ``agents``; assign it to a ``Test*`` name in a test module::

        from nocodo_agents.testing import migration_checks

        TestMyAgentMigrations = migration_checks("my_agent")

    ``dialects``: the dialects the agents' migrations must have SQL for
    (default: every dialect any of their migrations has SQL for).
    ``up_down_up=False`` leaves out the rollback check, for agents whose
    migrations have no ``rollback()``. The database checks run on the
    database the session is given (``--nocodo-db-url``; SQLite by default).
    """
    if not agents or not all(isinstance(agent, str) for agent in agents):
        raise TypeError(f'migration_checks() takes the agents\' names, e.g. migration_checks("my_agent"), not {agents!r}')
    attributes = {"agents": tuple(agents), "dialects": checks.checked_dialects(dialects), "up_down_up": up_down_up}
    return type(f"MigrationChecks_{'_'.join(agents)}", (MigrationChecks,), attributes)
