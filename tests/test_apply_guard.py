"""The apply loop's concurrency guard: another runner's work between two migrations is seen, and planned around.

The lock is held per transaction on SQLite and PostgreSQL, so another runner
can work between two of a run's migrations. Here it does so from the first
runner's ``progress`` callback (called after each commit, outside any
transaction): it applies the rest itself, or applies a migration of another
agent. The first runner must then apply nothing twice, and plan again with
what the other wrote. (MySQL holds its lock for the whole run: another
runner cannot get in between.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import plugin_returning
from fresh_database import connect_to_fresh_database
from fresh_database import versions as _versions

from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.migration import Migration
from nocodo_agents.runner import MigrationStep, run_agent_migrations


def _tables(first: int, last: int) -> list[Migration]:
    return [Migration(v, f"create_g_{v}", f"CREATE TABLE g_{v} (id INTEGER)") for v in range(first, last + 1)]


def registry(*, extra: bool = False) -> AgentRegistry:
    """Core, agent ``bulk`` (V100-V104) and, with ``extra``, agent ``late`` (V500)."""
    plugins = {"bulk": plugin_returning(_tables(100, 104))}
    if extra:
        plugins["late"] = plugin_returning(_tables(500, 500))
    return AgentRegistry.from_plugins(plugins)


@pytest.fixture(params=["sqlite", "postgresql"])
def connect(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    """Opens a new connection to one fresh database each time it is called."""
    return connect_to_fresh_database(request, tmp_path, "guard")


def test_a_runner_finding_the_next_version_applied_by_another_plans_again(connect: Callable[[], Any]) -> None:
    first, second = connect(), connect()
    others: list[MigrationStep] = []

    def meanwhile(step: MigrationStep) -> None:
        if step.version == 100:  # between this run's transactions, another runner applies all the rest
            others.extend(run_agent_migrations(second, registry=registry()).applied)

    report = run_agent_migrations(first, registry=registry(), progress=meanwhile)
    assert report.versions == (1, 2, 3, 100)
    assert [step.version for step in others] == [101, 102, 103, 104]
    assert _versions(first) == [1, 2, 3, 100, 101, 102, 103, 104], "each applied once"
    first.close()
    second.close()


def test_a_runner_finding_the_history_changed_elsewhere_plans_again(connect: Callable[[], Any]) -> None:
    first, second = connect(), connect()

    def only_late(step: MigrationStep) -> None:
        if step.version == 101:  # another runner, with core and another agent only, applies V500
            late = AgentRegistry.from_plugins({"late": plugin_returning(_tables(500, 500))})
            assert run_agent_migrations(second, registry=late).versions == (500,)

    report = run_agent_migrations(first, registry=registry(), progress=only_late)
    assert report.versions == (1, 2, 3, 100, 101, 102, 103, 104)
    assert [step.version for step in report.out_of_order] == [102, 103, 104], "planned again: V500 is applied now"
    assert _versions(first) == [1, 2, 3, 100, 101, 102, 103, 104, 500]
    first.close()
    second.close()
