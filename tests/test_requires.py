"""Agents requiring agents (``nocodo_agents_requires()``), through the API, on SQLite, PostgreSQL and MariaDB.

The agents here are written to disk as packages of migration modules and
registered as entry points would be (:class:`AgentEntry`, each with its own
distribution), so that what a run loads can be watched. The central case: agent
``tasks`` (V100, a table with a FOREIGN KEY to ``notes`` that copies its rows)
requires agent ``notes`` (V200, V201: higher versions). On a fresh database
``notes`` must be there first, whatever the versions: on PostgreSQL and
MariaDB the foreign key could not be created otherwise, and on every dialect
V100 copies the row V201 inserts.
"""

from __future__ import annotations

import sqlite3
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import migration_module, plugin_for
from fresh_database import open_fresh_database

from nocodo_agents import PluginLoadError, RequiredAgentMissingError, RequirementOrderError, UnknownAgentError
from nocodo_agents.database import Database
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentEntry, AgentRegistry
from nocodo_agents.lifecycle import rollback_migrations, verify_database
from nocodo_agents.plugins import hookimpl
from nocodo_agents.status import migration_status

NOTES = {
    "V200__create_notes": migration_module(
        "CREATE TABLE notes (id INTEGER NOT NULL PRIMARY KEY, body VARCHAR(100) NOT NULL);",
        rollback="DROP TABLE notes;",
    ),
    "V201__seed_notes": migration_module("INSERT INTO notes (id, body) VALUES (7, 'seed');", rollback="DELETE FROM notes;"),
}
TASKS = {
    "V100__create_tasks": migration_module(
        "CREATE TABLE tasks (id INTEGER NOT NULL PRIMARY KEY, note_id INTEGER NOT NULL, "
        "FOREIGN KEY (note_id) REFERENCES notes (id));\n"
        "INSERT INTO tasks (id, note_id) SELECT id, id FROM notes;",
        rollback="DROP TABLE tasks;",
    ),
}


# -- agents as installed distributions -------------------------------------------------------------


class Agents:
    """Agents registered as entry points of their own distributions (``<name>-dist``); records which were loaded."""

    def __init__(self, agent_package: Callable[..., str]) -> None:
        self.agent_package = agent_package
        self.entries: list[AgentEntry] = []
        self.loaded: list[str] = []

    def add(self, name: str, modules: dict[str, str], requires: Any | None = None) -> Agents:
        module = plugin_for(self.agent_package(modules), requires)

        def load(name: str = name, module: types.ModuleType = module) -> types.ModuleType:
            self.loaded.append(name)
            return module

        self.entries.append(AgentEntry(name, f"{name.replace('_', '-')}-dist", "1.0", f"{name}.plugin", load))
        return self

    def registry(self) -> AgentRegistry:
        return AgentRegistry(self.entries)


@pytest.fixture
def agents(agent_package: Callable[..., str]) -> Agents:
    return Agents(agent_package)


# -- one fresh database on each dialect ------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(dialect, a connection to a fresh database)."""
    yield from open_fresh_database(request, tmp_path, "requires")


def query(connection: Any, sql: str) -> list[tuple[Any, ...]]:
    cursor = connection.cursor()
    cursor.execute(sql)
    rows = [tuple(row) for row in cursor.fetchall()]
    connection.commit()
    return rows


def table_names(dialect: str, connection: Any) -> set:
    if dialect == "sqlite":
        return {name for (name,) in query(connection, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    if dialect == "postgresql":
        return {name for (name,) in query(connection, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    return {name for (name,) in query(connection, "SHOW TABLES")}


def history_versions(connection: Any) -> list[int]:
    return [int(v) for (v,) in query(connection, "SELECT version FROM refinery_schema_history ORDER BY version")]


def notes_and_tasks(agents: Agents) -> AgentRegistry:
    return agents.add("notes", NOTES).add("tasks", TASKS, requires=["notes"]).registry()


# -- requesting an agent requests what it requires ---------------------------------------------------


def test_a_required_agent_with_higher_versions_is_applied_first_on_a_fresh_database(db, agents: Agents) -> None:
    dialect, connection = db
    report = run_agent_migrations(connection, agents=["tasks"], registry=notes_and_tasks(agents))
    assert [(s.version, s.agent) for s in report.applied] == [
        (1, "core"), (2, "core"), (3, "core"), (200, "notes"), (201, "notes"), (100, "tasks"),
    ]
    assert report.out_of_order == tuple(s for s in report.applied if s.version == 100), "applied after V201"
    assert query(connection, "SELECT id, note_id FROM tasks") == [(7, 7)], "V100 saw the row V201 inserted"
    if dialect == "sqlite":
        assert query(connection, "PRAGMA foreign_key_check") == []
    else:  # the foreign key exists and is enforced
        with pytest.raises(Exception) as refused:
            query(connection, "INSERT INTO tasks (id, note_id) VALUES (8, 999)")
        connection.rollback()
        assert "foreign key" in str(refused.value).lower()
    verified = verify_database(connection, agents=["tasks"], registry=agents.registry())
    assert not verified.drift.has_drift and verified.divergent == (), "the replay orders the migrations the same way"
    again = run_agent_migrations(connection, agents=["tasks"], registry=agents.registry())
    assert again.applied == ()
    states = {row.version: (row.state, row.requires) for row in migration_status(connection, ["tasks"], registry=agents.registry())}
    assert states[100] == ("applied-out-of-order", ("notes",))
    assert states[200] == ("applied", ()) and states[1] == ("applied", ())


def test_requirements_are_requested_transitively_and_only_they_are_loaded(db, agents: Agents) -> None:
    dialect, connection = db
    agents.add("base", {"V300__create_base": "CREATE TABLE base (id INTEGER NOT NULL PRIMARY KEY);"})
    agents.add("middle", {"V250__create_middle": "CREATE TABLE middle (id INTEGER NOT NULL PRIMARY KEY, base_id INTEGER, FOREIGN KEY (base_id) REFERENCES base (id));"}, requires=["base"])
    agents.add("top", {"V150__create_top": "CREATE TABLE top_t (id INTEGER NOT NULL PRIMARY KEY, middle_id INTEGER, FOREIGN KEY (middle_id) REFERENCES middle (id));"}, requires=["Middle"])
    agents.add("unrelated", {"V400__create_unrelated": "CREATE TABLE unrelated (id INTEGER);"})
    registry = agents.registry()
    report = run_agent_migrations(connection, agents=["top"], registry=registry)
    assert [s.version for s in report.applied] == [1, 2, 3, 300, 250, 150]
    assert sorted(agents.loaded) == ["base", "middle", "top"], "the unrelated agent is never imported"
    assert {"base", "middle", "top_t"} <= table_names(dialect, connection) and "unrelated" not in table_names(dialect, connection)
    assert not verify_database(connection, agents=["top"], registry=registry).drift.has_drift


def test_agents_both_already_in_the_database_keep_version_order(db, agents: Agents) -> None:
    dialect, connection = db
    first = Agents(agents.agent_package)
    first.add("notes", {"V200__create_notes": NOTES["V200__create_notes"]}).add("tasks", {"V150__create_plain": "CREATE TABLE plain (id INTEGER);"}, requires=["notes"])
    assert run_agent_migrations(connection, agents=["tasks"], registry=first.registry()).versions == (1, 2, 3, 200, 150)
    later = Agents(agents.agent_package)
    later.add("notes", {**NOTES, "V400__more_notes": "CREATE TABLE more_notes (id INTEGER);"})
    later.add("tasks", {"V150__create_plain": "CREATE TABLE plain (id INTEGER);", "V300__create_tasks": TASKS["V100__create_tasks"]}, requires=["notes"])
    report = run_agent_migrations(connection, agents=["tasks"], registry=later.registry())
    assert [s.version for s in report.applied] == [201, 300, 400], "neither is new: version order"
    assert report.out_of_order == ()
    assert query(connection, "SELECT id, note_id FROM tasks") == [(7, 7)]


def test_a_cycle_requests_both_and_runs_by_version(db, agents: Agents) -> None:
    dialect, connection = db
    agents.add("left", {"V300__create_left": "CREATE TABLE left_t (id INTEGER);"}, requires=["right"])
    agents.add("right", {"V200__create_right": "CREATE TABLE right_t (id INTEGER);", "V400__more_right": "CREATE TABLE right_more (id INTEGER);"}, requires=["left", "core"])
    agents.add("user", {"V100__create_user": "CREATE TABLE user_t (id INTEGER);"}, requires=["left"])
    report = run_agent_migrations(connection, agents=["user"], registry=agents.registry())
    assert [s.version for s in report.applied] == [1, 2, 3, 200, 300, 400, 100], "the cycle by version, before its user"
    assert {"left_t", "right_t", "right_more", "user_t"} <= table_names(dialect, connection)


def test_database_requests_what_an_agent_requires(tmp_path: Path, agents: Agents) -> None:
    with Database(str(tmp_path / "app.sqlite"), agents=["tasks"], registry=notes_and_tasks(agents)) as database:
        assert database.migration_report.versions == (1, 2, 3, 200, 201, 100)
        assert database.connection.execute("SELECT note_id FROM tasks").fetchall() == [(7,)]


# -- a required agent that is not installed --------------------------------------------------------


def test_a_missing_required_agent_is_refused_before_any_statement(db, agents: Agents) -> None:
    dialect, connection = db
    agents.add("tasks", TASKS, requires=["notes"])
    statements: list[str] = []
    if dialect == "sqlite":
        connection.set_trace_callback(statements.append)
    for requested in (["tasks"], None):
        with pytest.raises(RequiredAgentMissingError) as missing:
            run_agent_migrations(connection, agents=requested, registry=agents.registry())
        error = missing.value
        assert (error.agent, error.required_by, error.distribution, error.guessed) == ("notes", "tasks", "tasks-dist", True)
        assert error.install_hint == "pip install nocodo-agents-notes"
        message = str(error)
        assert "agent 'tasks' (distribution tasks-dist) requires agent 'notes'" in message
        assert "pip install nocodo-agents-notes is a guess" in message and "Nothing was changed" in message
    assert statements == []
    assert history_table_absent(dialect, connection)
    connection.close()  # a connection the runner cannot use: it is never reached
    with pytest.raises(RequiredAgentMissingError):
        run_agent_migrations(connection, agents=["tasks"], registry=agents.registry())


def history_table_absent(dialect: str, connection: Any) -> bool:
    return "refinery_schema_history" not in table_names(dialect, connection)


def test_requesting_an_unknown_agent_is_still_unknown_agent(conn: sqlite3.Connection, agents: Agents) -> None:
    agents.add("tasks", TASKS, requires=["notes"])
    with pytest.raises(UnknownAgentError):
        run_agent_migrations(conn, agents=["notes"], registry=agents.registry())


@pytest.mark.parametrize(
    "requires, says",
    [
        (["tasks"], "names the agent itself"),
        ("notes", "returned str, expected a list of agent names"),
        ([""], "expected only agent names"),
        ([None], "expected only agent names"),
    ],
)
def test_a_malformed_requires_hook_is_a_plugin_load_error(conn: sqlite3.Connection, agents: Agents, requires: Any, says: str) -> None:
    agents.add("notes", NOTES).add("tasks", TASKS, requires=requires)
    with pytest.raises(PluginLoadError) as broken:
        run_agent_migrations(conn, agents=["tasks"], registry=agents.registry())
    assert (broken.value.agent, broken.value.distribution) == ("tasks", "tasks-dist")
    assert says in str(broken.value) and "nocodo_agents_requires()" in str(broken.value)
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_a_requires_hook_that_raises_names_the_agent(conn: sqlite3.Connection, agents: Agents, agent_package) -> None:
    module = plugin_for(agent_package(TASKS))

    @hookimpl
    def nocodo_agents_requires():  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    module.nocodo_agents_requires = nocodo_agents_requires  # type: ignore[attr-defined]
    registry = AgentRegistry([AgentEntry("tasks", "tasks-dist", "1.0", "tasks.plugin", lambda: module)])
    with pytest.raises(PluginLoadError, match="nocodo_agents_requires\\(\\) hook raised RuntimeError"):
        run_agent_migrations(conn, agents=["tasks"], registry=registry)


# -- where versions make the order impossible --------------------------------------------------------


def test_a_target_splitting_a_new_requirement_from_its_user_is_refused(db, agents: Agents) -> None:
    dialect, connection = db
    registry = notes_and_tasks(agents)
    for target, left_out in ((150, (200, 201)), (200, (201,))):
        with pytest.raises(RequirementOrderError) as refused:
            run_agent_migrations(connection, agents=["tasks"], target=target, registry=registry)
        error = refused.value
        assert (error.operation, error.target, error.agent, error.required_agent) == ("migrate", target, "tasks", "notes")
        assert (error.agent_versions, error.required_versions) == ((100,), left_out)
        assert (error.distribution, error.required_distribution) == ("tasks-dist", "notes-dist")
        assert "Use a target of 201 or above, or below 100" in str(error)
        assert history_table_absent(dialect, connection), "nothing was written"
    with pytest.raises(RequirementOrderError):
        run_agent_migrations(connection, agents=["tasks"], target=150, registry=registry, dry_run=True)
    assert run_agent_migrations(connection, agents=["tasks"], target=50, registry=registry).versions == (1, 2, 3)
    assert run_agent_migrations(connection, agents=["tasks"], target=201, registry=registry).versions == (200, 201, 100)


def test_a_rollback_undoing_a_requirement_under_its_user_is_refused(db, agents: Agents) -> None:
    dialect, connection = db
    registry = notes_and_tasks(agents)
    run_agent_migrations(connection, agents=["tasks"], registry=registry)
    for to, undone in ((150, (200, 201)), (200, (201,))):
        with pytest.raises(RequirementOrderError) as refused:
            rollback_migrations(connection, to, agents=["tasks"], registry=registry)
        error = refused.value
        assert (error.operation, error.target, error.agent, error.required_agent) == ("rollback", to, "tasks", "notes")
        assert (error.agent_versions, error.required_versions) == ((100,), undone)
        assert "Roll back to a version below 100" in str(error)
        assert history_versions(connection) == [1, 2, 3, 100, 200, 201], "nothing was rolled back"
    with pytest.raises(RequirementOrderError):
        rollback_migrations(connection, 150, agents=["tasks"], registry=registry, dry_run=True)
    report = rollback_migrations(connection, 99, agents=["tasks"], registry=registry)
    assert [s.version for s in report.rolled_back] == [100, 201, 200], "the requiring agent's first: its foreign key goes first"
    assert history_versions(connection) == [1, 2, 3]
    assert {"notes", "tasks"}.isdisjoint(table_names(dialect, connection))


def test_order_rules_are_pure_and_hold_on_a_larger_graph() -> None:
    """The planning function alone: several new and old agents, a cycle, a target."""
    from nocodo_agents.history import HistoryRow
    from nocodo_agents.migration import Migration
    from nocodo_agents.planning import PlannedMigration, make_plan

    def planned(version: int, agent: str) -> PlannedMigration:
        return PlannedMigration(Migration(version, f"m{version}", "SELECT 1;"), agent, f"{agent}-dist")

    installed = [planned(v, a) for v, a in [(1, "core"), (5, "old"), (10, "app"), (20, "x"), (30, "y"), (40, "old"), (50, "app")]]
    graph = {"core": (), "old": ("core",), "app": ("x", "old", "core"), "x": ("y", "core"), "y": ("x", "core")}
    fresh = make_plan(installed, [], "sqlite", requires=graph)
    assert [p.version for p in fresh.pending] == [1, 5, 20, 30, 40, 10, 50]
    history = [HistoryRow(1, "m1", "2026-01-01T00:00:00Z", str(installed[0].checksum("sqlite")), "core"),
               HistoryRow(5, "m5", "2026-01-01T00:00:01Z", str(installed[1].checksum("sqlite")), "old")]
    later = make_plan(installed, history, "sqlite", requires=graph)
    assert [p.version for p in later.pending] == [20, 30, 40, 10, 50], "app is new: what it requires first (old's V40 too)"
    assert later.out_of_order == frozenset({10})
    graph_without_old = {**graph, "app": ("x", "core")}
    assert [p.version for p in make_plan(installed, history, "sqlite", requires=graph_without_old).pending] == [20, 30, 10, 40, 50]
    without = make_plan(installed, history, "sqlite")
    assert [p.version for p in without.pending] == [10, 20, 30, 40, 50], "no graph: version order, as before"


def test_a_database_made_before_history_is_judged_in_the_order_migrations_will_run(db, agents: Agents) -> None:
    """History-less with core's tables: core is adopted, and the pending migrations' replay (their
    footprints) runs notes before tasks, as the run will; in version order V100 could not be replayed
    and the run would stop as ambiguous."""
    dialect, connection = db
    registry = notes_and_tasks(agents)
    run_agent_migrations(connection, agents=[], registry=registry)
    cursor = connection.cursor()
    cursor.execute("DROP TABLE refinery_schema_history")
    connection.commit()
    report = run_agent_migrations(connection, agents=["tasks"], registry=registry)
    assert [s.version for s in report.adopted] == [1, 2, 3]
    assert [s.version for s in report.applied] == [200, 201, 100]
    assert query(connection, "SELECT id, note_id FROM tasks") == [(7, 7)]


def test_baseline_refuses_a_version_splitting_a_requirement_from_its_user(db, agents: Agents) -> None:
    from nocodo_agents.lifecycle import baseline

    dialect, connection = db
    registry = notes_and_tasks(agents)
    with pytest.raises(RequirementOrderError) as refused:
        baseline(connection, 150, agents=["tasks"], registry=registry)
    assert (refused.value.agent_versions, refused.value.required_versions) == ((100,), (200, 201))
    assert history_table_absent(dialect, connection), "refused at plan time, before the history table is created"
    assert [s.version for s in baseline(connection, 201, agents=["tasks"], registry=registry).adopted] == [1, 2, 3, 200, 201, 100]


def test_the_order_survives_a_run_stopped_after_part_of_the_required_agent(db, agents: Agents) -> None:
    """notes' V200 applied alone (a run stopped there, or another runner): notes is no longer new, tasks
    still is, so notes' V201 still runs before tasks' V100, which copies the row V201 inserts."""
    dialect, connection = db
    registry = notes_and_tasks(agents)
    assert run_agent_migrations(connection, agents=["tasks"], target=3, registry=registry).versions == (1, 2, 3)
    partial = Agents(agents.agent_package)
    partial.add("notes", {"V200__create_notes": NOTES["V200__create_notes"]})
    assert run_agent_migrations(connection, agents=["notes"], registry=partial.registry()).versions == (200,)
    report = run_agent_migrations(connection, agents=["tasks"], registry=registry)
    assert report.versions == (201, 100)
    assert query(connection, "SELECT id, note_id FROM tasks") == [(7, 7)]


def test_an_established_required_agent_runs_its_pending_migrations_before_a_new_agent_requiring_it(db, agents: Agents) -> None:
    dialect, connection = db
    agents.add("notes", {"V200__create_notes": NOTES["V200__create_notes"]})
    run_agent_migrations(connection, agents=["notes"], registry=agents.registry())
    upgraded = Agents(agents.agent_package)
    upgraded.add("notes", NOTES).add("tasks", TASKS, requires=["notes"])
    with pytest.raises(RequirementOrderError) as refused:
        run_agent_migrations(connection, agents=["tasks"], target=150, registry=upgraded.registry())
    assert (refused.value.agent_versions, refused.value.required_versions) == ((100,), (201,))
    assert run_agent_migrations(connection, agents=["tasks"], registry=upgraded.registry()).versions == (201, 100)
