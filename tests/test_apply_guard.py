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

import itertools
import sqlite3
import types
from pathlib import Path
from typing import Any, Callable, List

import pytest

from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.hookspecs import hookimpl
from nocodo_agents.migration import Migration
from nocodo_agents.runner import MigrationStep, run_agent_migrations

_names = itertools.count()


def _plugin(migrations: List[Migration]) -> types.ModuleType:
    @hookimpl
    def nocodo_agents_migrations():  # type: ignore[no-untyped-def]
        return migrations

    plugin = types.ModuleType(f"nocodo_guard_plugin_{next(_names)}")
    plugin.nocodo_agents_migrations = nocodo_agents_migrations  # type: ignore[attr-defined]
    return plugin


def _tables(first: int, last: int) -> List[Migration]:
    return [Migration(v, f"create_g_{v}", f"CREATE TABLE g_{v} (id INTEGER)") for v in range(first, last + 1)]


def registry(*, extra: bool = False) -> AgentRegistry:
    """Core, agent ``bulk`` (V100-V104) and, with ``extra``, agent ``late`` (V500)."""
    plugins = {"bulk": _plugin(_tables(100, 104))}
    if extra:
        plugins["late"] = _plugin(_tables(500, 500))
    return AgentRegistry.from_plugins(plugins)


def history(rows: List[Any]) -> List[int]:
    return [int(row[0]) for row in rows]


@pytest.fixture(params=["sqlite", "postgresql"])
def connect(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    """Opens a new connection to one fresh database each time it is called."""
    if request.param == "sqlite":
        path = tmp_path / "guard.sqlite"
        return lambda: sqlite3.connect(path)
    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = f"guard_{next(_names)}"
    server.create_database(name)
    return lambda: psycopg.connect(server.dsn(name))


def _versions(conn: Any) -> List[int]:
    cursor = conn.cursor()
    cursor.execute("SELECT version FROM refinery_schema_history ORDER BY version")
    found = history(cursor.fetchall())
    conn.commit()
    return found


def test_a_runner_finding_the_next_version_applied_by_another_plans_again(connect: Callable[[], Any]) -> None:
    first, second = connect(), connect()
    others: List[MigrationStep] = []

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
            late = AgentRegistry.from_plugins({"late": _plugin(_tables(500, 500))})
            assert run_agent_migrations(second, registry=late).versions == (500,)

    report = run_agent_migrations(first, registry=registry(), progress=only_late)
    assert report.versions == (1, 2, 3, 100, 101, 102, 103, 104)
    assert [step.version for step in report.out_of_order] == [102, 103, 104], "planned again: V500 is applied now"
    assert _versions(first) == [1, 2, 3, 100, 101, 102, 103, 104, 500]
    first.close()
    second.close()
