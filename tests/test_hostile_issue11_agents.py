"""Hostile tests of issue 11's "one agent cannot touch another's history" and "agents requiring agents".

On SQLite, PostgreSQL and MariaDB: every history write of an existing row
(re-recording, deleting: rollback, ``resolve --absent``) refuses a row
attributed to another agent by itself, with the planning check bypassed; a
rollback learns it before any of its statements runs; an interrupted run of
agent A (MariaDB's journal) is never settled as agent B's. Requested agents
(and what they require) are loaded before the database is touched: no SQLite
file is created and no server connected by any command taking ``--agent``,
nor by ``Database(agents=[...])``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from cli_support import Cli, plugin_module, sql_module, write_agent_distribution
from conftest import plugin_for, registry_of
from test_history_conflicts import ALPHA_SQL, Target, _api, target  # noqa: F401  (the fixture)

from nocodo_agents import (
    Database,
    HistoryAttributionError,
    MigrationConflictError,
    MigrationFailedError,
    PluginLoadError,
    RequiredAgentMissingError,
    UnknownAgentError,
)
from nocodo_agents.cli.exit_codes import ExitCode, exit_code_for
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.engine.rollback import _roll_back_one
from nocodo_agents.engine.run import open_run
from nocodo_agents.lifecycle import resolve_unfinished

ALPHA_ROLLBACK = "DROP TABLE alpha_notes;"


def _module(sql: str, rollback: str) -> str:
    return f"def migration():\n    return {sql!r}\n\n\ndef rollback():\n    return {rollback!r}\n"


def _tables(target: Target) -> list[str]:
    sql = {
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
        "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
        "mysql": "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
    }[target.dialect]
    return sorted(str(row[0]) for row in target.query(sql))


# -- the history table refuses by itself -------------------------------------------------------------


def test_the_history_table_never_deletes_another_agents_row(target: Target, agent_package: Callable[..., str]) -> None:
    alpha = agent_package({"V100__create_alpha_notes": _module(ALPHA_SQL, ALPHA_ROLLBACK)})
    registry = registry_of(alpha=alpha)
    _api(target, run_agent_migrations, agents=["alpha"], registry=registry)
    before = target.history()
    connection = target.connect()
    try:
        with open_run(connection, ["alpha"], registry) as run:
            for writer in ("beta", None):
                with pytest.raises(HistoryAttributionError) as raised:
                    with run.dialect.write_transaction():
                        run.dialect.delete_history(100, writer)
                error = raised.value
                assert isinstance(error, MigrationConflictError) and error.write == "delete"
                assert (error.version, error.agent, error.recorded_agent) == (100, str(writer), "alpha")
                assert "refused to delete version 100" in str(error) and "'alpha'" in str(error)
                assert "Nothing was changed" in str(error) and exit_code_for(error) == ExitCode.CONFLICT
                assert target.history() == before
            with pytest.raises(HistoryAttributionError):
                run.dialect.recorded_for(100, "beta")
            assert run.dialect.recorded_for(100, "alpha") and not run.dialect.recorded_for(555, "beta")
            with run.dialect.write_transaction():  # its own agent's row goes
                run.dialect.delete_history(100, "alpha")
    finally:
        connection.close()
    assert target.history() == before[:-1]
    # a row without attribution (refinery's) is nobody's: any agent's deletion takes it
    target.execute("UPDATE refinery_schema_history SET agent = NULL WHERE version = 3")
    connection = target.connect()
    try:
        with open_run(connection, ["alpha"], registry) as run:
            with run.dialect.write_transaction():
                run.dialect.delete_history(3, "beta")
    finally:
        connection.close()
    assert [row[0] for row in target.history()] == [1, 2]


def test_a_rollback_bypassing_planning_runs_nothing_of_another_agents_version(
    target: Target, agent_package: Callable[..., str]
) -> None:
    """beta claims alpha's V100 with a rollback dropping alpha's table: the engine's own step refuses before running it."""
    alpha = agent_package({"V100__create_alpha_notes": _module(ALPHA_SQL, ALPHA_ROLLBACK)})
    beta = agent_package({"V100__create_alpha_notes": _module(ALPHA_SQL, ALPHA_ROLLBACK)})
    _api(target, run_agent_migrations, agents=["alpha"], registry=registry_of(alpha=alpha))
    before = (target.history(), _tables(target))
    connection = target.connect()
    try:
        with open_run(connection, ["beta"], registry_of(beta=beta)) as run:
            planned = run.installed_by_version()[100]
            with pytest.raises(HistoryAttributionError) as raised:
                _roll_back_one(run.dialect, planned)
    finally:
        connection.close()
    assert (raised.value.agent, raised.value.recorded_agent) == ("beta", "alpha")
    assert (target.history(), _tables(target)) == before, "the rollback ran or the row went"
    assert "alpha_notes" in before[1]


def test_a_refinery_history_without_the_agent_column_is_still_rolled_back(
    target: Target, agent_package: Callable[..., str]
) -> None:
    alpha = agent_package({"V100__create_alpha_notes": _module(ALPHA_SQL, ALPHA_ROLLBACK)})
    registry = registry_of(alpha=alpha)
    _api(target, run_agent_migrations, agents=["alpha"], registry=registry)
    target.execute("ALTER TABLE refinery_schema_history DROP COLUMN agent")
    from nocodo_agents.lifecycle import rollback_migrations

    report = _api(target, rollback_migrations, 3, ["alpha"], registry=registry)
    assert [step.version for step in report.rolled_back] == [100]
    assert [row[0] for row in target.query("SELECT version FROM refinery_schema_history ORDER BY version")] == [1, 2, 3]


# -- MariaDB's journal: agent A's interrupted run is never settled as agent B's -----------------------


def test_an_interrupted_migration_of_one_agent_is_not_resolved_as_another_agents(
    mariadb_server: Any, mariadb_database: str, agent_package: Callable[..., str]
) -> None:
    broken = "CREATE TABLE rj_a (id INT PRIMARY KEY);\nCREATE TABLE rj_a (id INT PRIMARY KEY);"
    alpha = agent_package({"V4__pair": _module(broken, "DROP TABLE rj_a;")})
    beta = agent_package({"V4__other": _module("CREATE TABLE rj_beta (id INT PRIMARY KEY);", "DROP TABLE rj_beta;")})
    connection = mariadb_server.connect(mariadb_database)
    try:
        with pytest.raises(MigrationFailedError):
            run_agent_migrations(connection, agents=["alpha"], registry=registry_of(alpha=alpha))
        journal = "SELECT version, agent, direction FROM nocodo_agents_migration_journal"

        def state() -> Any:
            with connection.cursor() as cursor:
                cursor.execute(journal)
                entries = cursor.fetchall()
                cursor.execute("SELECT version, agent FROM refinery_schema_history ORDER BY version")
                rows = cursor.fetchall()
            connection.commit()  # the reads' snapshot: the runner refuses a connection inside a transaction
            return entries, rows

        before = state()
        assert before[0] == ((4, "alpha", "migration"),)
        for applied in (True, False):
            with pytest.raises(MigrationConflictError) as raised:
                resolve_unfinished(connection, 4, applied, ["beta"], registry=registry_of(beta=beta))
            error = raised.value
            assert (error.version, error.recorded_agent, error.agent, error.journalled) == (4, "alpha", "beta", "migration")
            message = str(error)
            assert "recorded in the migration journal as 'pair' as an unfinished migration of agent 'alpha'" in message
            assert "V4__other" in message and "(registered in-process)" in message and "renumber" in message
            assert exit_code_for(error) == ExitCode.CONFLICT
            assert "--agent alpha" in str(hint_for(error)) and "renumber the migration of agent 'beta'" in str(hint_for(error))
            assert state() == before
        # alpha, requested, settles its own run
        assert resolve_unfinished(connection, 4, False, ["alpha"], registry=registry_of(alpha=alpha, beta=beta)) is None
        assert state()[0] == ()
    finally:
        connection.close()


# -- the requested agents are loaded before the database is touched ----------------------------------

REQUIRING_PLUGIN = plugin_module("tasks_agent", requires=["notes"])

BROKEN_PLUGIN = """
raise RuntimeError("broken at import")
"""

AGENT_COMMANDS = [
    ["migrate"], ["migrate", "--dry-run"], ["migrate", "--fake"], ["migrate", "--target", "100"],
    ["baseline", "--version", "100"], ["rollback", "--to", "0"], ["rollback", "--to", "0", "--dry-run"],
    ["repair"], ["resolve", "100", "--applied"], ["resolve", "100", "--absent"], ["widen-history"],
    ["status"], ["status", "--check"], ["status", "--json"], ["verify"], ["verify", "--json"],
]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site"
    path.mkdir()
    write_agent_distribution(
        path, "tasks-dist", "tasks", "tasks_agent",
        {"V100__create_tasks": sql_module("CREATE TABLE tasks (id INTEGER PRIMARY KEY);", rollback="DROP TABLE tasks;")},
        plugin_source=REQUIRING_PLUGIN,
    )
    write_agent_distribution(
        path, "broken-dist", "broken", "broken_agent", {"V300__x": sql_module("SELECT 1;")}, plugin_source=BROKEN_PLUGIN
    )
    return path


@pytest.fixture
def cli(tmp_path: Path, site: Path) -> Cli:
    return Cli.in_work_directory(tmp_path, site)


REFUSALS = [
    (["--agent", "tasks"], 1, "requires agent 'notes', which is not installed"),
    (["--agent", "nosuch"], 1, "nosuch"),
    (["--agent", "broken"], 1, "broken at import"),
    ([], 1, "could not be loaded"),  # every installed agent: broken (first) and tasks among them
]


@pytest.mark.parametrize("command", AGENT_COMMANDS, ids=" ".join)
def test_no_command_creates_the_sqlite_file_before_the_agents_resolve(cli: Cli, command: list[str]) -> None:
    database = cli.cwd / "agents.sqlite"
    for agents, code, said in REFUSALS:
        done = cli(*command, *agents, "--db", str(database))
        assert done.code == code, (command, agents, done.text)
        assert said in done.err, (command, agents, done.err)
        assert not database.exists(), (command, agents, "the database file was created")


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_no_command_connects_to_a_server_before_the_agents_resolve(
    request: pytest.FixtureRequest, cli: Cli, server: str
) -> None:
    """The URL names a database that does not exist: connecting would fail (exit 6) instead of the agent error."""
    fixture = request.getfixturevalue("postgres_server" if server == "postgresql" else "mariadb_server")
    url = fixture.url("nocodo_never_created")
    for command in AGENT_COMMANDS:
        for agents, code, said in REFUSALS[:2]:
            done = cli(*command, *agents, "--db", url)
            assert done.code == code, (command, agents, done.text)
            assert said in done.err, (command, agents, done.err)
    # the same URL with an agent that loads: the connection is tried, and fails
    assert cli("status", "--agent", "core", "--db", url).code == ExitCode.DATABASE_UNAVAILABLE


def test_database_creates_no_file_for_an_agent_it_cannot_load(tmp_path: Path, agent_package: Callable[..., str]) -> None:
    path = tmp_path / "deep" / "agents.sqlite"
    requiring = agent_package(
        {"V100__t": "CREATE TABLE t (id INTEGER);"},
        plugin_source="""
        from nocodo_agents.plugins import hookimpl, load_migrations

        @hookimpl
        def nocodo_agents_requires():
            return ["notes"]

        @hookimpl
        def nocodo_agents_migrations():
            return load_migrations(__package__ + ".migrations")
        """,
    )
    from nocodo_agents.discovery import AgentRegistry

    package = requiring.rsplit(".", 1)[0]
    import importlib

    plugin = importlib.import_module(package + ".plugin")
    registry = AgentRegistry.from_plugins({"tasks": plugin})
    for agents, error in ((["tasks"], RequiredAgentMissingError), (["nosuch"], UnknownAgentError)):
        with pytest.raises(error):
            Database(path, agents, registry=registry)
        assert not path.exists() and not path.parent.exists()


# -- what a requested agent's requirement gets wrong is told as such ---------------------------------


def _entries(agent_package: Callable[..., str], broken_requirement: bool) -> Any:
    from nocodo_agents.discovery import AgentEntry

    def broken() -> Any:
        raise ImportError("notes_agent.plugin is gone")

    notes = agent_package({"V300__create_notes": "CREATE TABLE notes (id INTEGER PRIMARY KEY);"})
    tasks = agent_package({"V300__create_tasks": "CREATE TABLE tasks (id INTEGER PRIMARY KEY);"})
    load_notes = broken if broken_requirement else (lambda: plugin_for(notes))
    return [
        AgentEntry("notes", "notes-dist", "1.0", "notes_agent.plugin", load_notes),
        AgentEntry("tasks", "tasks-dist", "1.0", "tasks_agent.plugin", lambda: plugin_for(tasks, ("Notes", "notes", "core"))),
    ]


def test_a_required_agent_that_fails_to_load_names_the_agent_requiring_it(
    tmp_path: Path, agent_package: Callable[..., str]
) -> None:
    import sqlite3

    from nocodo_agents.discovery import AgentRegistry

    entries = _entries(agent_package, broken_requirement=True)
    connection = sqlite3.connect(tmp_path / "agents.sqlite")
    try:
        with pytest.raises(PluginLoadError) as raised:
            run_agent_migrations(connection, agents=["tasks"], registry=AgentRegistry(entries))
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == []
    finally:
        connection.close()
    error = raised.value
    assert (error.agent, error.distribution, error.required_by) == ("notes", "notes-dist", ("tasks", "tasks-dist"))
    message = str(error)
    assert "agent 'notes' from distribution notes-dist could not be loaded" in message and "is gone" in message
    assert "leave agent 'tasks' (distribution tasks-dist), which requires agent 'notes', out of `agents=`" in message
    with pytest.raises(PluginLoadError) as requested:  # requested itself: the advice is to leave it out
        AgentRegistry(entries).requested_sets(["notes"])
    assert requested.value.required_by is None and "leave 'notes' out of `agents=`" in str(requested.value)


def test_two_agents_claiming_a_version_where_one_requires_the_other_are_not_told_to_split(
    agent_package: Callable[..., str]
) -> None:
    from nocodo_agents.discovery import AgentRegistry
    from nocodo_agents.engine.run import requested_migrations

    with pytest.raises(MigrationConflictError) as raised:
        requested_migrations(["tasks"], AgentRegistry(_entries(agent_package, broken_requirement=False)))
    error = raised.value
    assert error.requiring == "tasks" and not error.in_history
    assert {error.first[0], error.second[0]} == {"notes", "tasks"}
    message = str(error)
    assert "agent 'tasks' requires the other, so the two are always requested together" in message
    assert "do not request both" not in message and "tasks-dist" in message and "notes-dist" in message


# -- three agents, interleaved versions, foreign keys: fresh, interrupted, rolled back ---------------


def _chain(agent_package: Callable[..., str], broken_gamma: bool = False) -> Any:
    """gamma requires beta requires alpha; each table references the one before; versions interleave the other way."""
    from test_requires import Agents


    agents = Agents(agent_package)
    agents.add("alpha", {
        "V30__create_alpha": _module("CREATE TABLE alpha_t (id INTEGER NOT NULL PRIMARY KEY);", "DROP TABLE alpha_t;"),
        "V600__seed_alpha": _module("INSERT INTO alpha_t (id) VALUES (1);", "DELETE FROM alpha_t;"),
    })
    agents.add("beta", {
        "V20__create_beta": _module(
            "CREATE TABLE beta_t (id INTEGER NOT NULL PRIMARY KEY, alpha_id INTEGER NOT NULL, "
            "FOREIGN KEY (alpha_id) REFERENCES alpha_t (id));", "DROP TABLE beta_t;"),
        "V500__seed_beta": _module("INSERT INTO beta_t (id, alpha_id) SELECT id, id FROM alpha_t;", "DELETE FROM beta_t;"),
    }, requires=("alpha",))
    gamma_seed = "INSERT INTO gamma_t (id, beta_id) SELECT id, id FROM beta_t;"
    agents.add("gamma", {
        "V10__create_gamma": _module(
            "CREATE TABLE gamma_t (id INTEGER NOT NULL PRIMARY KEY, beta_id INTEGER NOT NULL, "
            "FOREIGN KEY (beta_id) REFERENCES beta_t (id));", "DROP TABLE gamma_t;"),
        "V400__seed_gamma": _module(gamma_seed + ("\nINSERT INTO no_such_table VALUES (1);" if broken_gamma else ""),
                                    "DELETE FROM gamma_t;"),
    }, requires=["beta", "core"])
    return agents


def test_three_agents_with_interleaved_versions_apply_in_requirement_order(
    target: Target, agent_package: Callable[..., str]
) -> None:
    from nocodo_agents.lifecycle import rollback_migrations, verify_database
    from nocodo_agents.status import migration_status

    registry = _chain(agent_package).registry()
    plan = _api(target, run_agent_migrations, agents=["gamma"], registry=registry, dry_run=True)
    assert plan.versions == (1, 2, 3, 30, 600, 20, 500, 10, 400)
    done = _api(target, run_agent_migrations, agents=["gamma"], registry=registry)
    assert done.versions == (1, 2, 3, 30, 600, 20, 500, 10, 400)
    assert target.query("SELECT id, beta_id FROM gamma_t") == [(1, 1)]
    states = {row.version: row.state for row in _api(target, migration_status, ["gamma"], registry=registry)}
    assert {v for v, s in states.items() if s != "applied"} == {20, 500, 10, 400}
    assert _api(target, verify_database, ["gamma"], registry=registry).ok
    assert _api(target, run_agent_migrations, agents=["gamma"], registry=registry).versions == ()
    rolled = _api(target, rollback_migrations, 3, ["gamma"], registry=registry)
    assert [step.version for step in rolled.rolled_back] == [400, 10, 500, 20, 600, 30]
    assert [row[0] for row in target.history()] == [1, 2, 3]


def test_three_agents_interrupted_then_run_again_keep_the_order(target: Target, agent_package: Callable[..., str]) -> None:
    with pytest.raises(MigrationFailedError):
        _api(target, run_agent_migrations, agents=["gamma"], registry=_chain(agent_package, broken_gamma=True).registry())
    applied = [row[0] for row in target.history()]
    assert applied == [1, 2, 3, 10, 20, 30, 500, 600], "all of alpha and beta, then gamma's V10; V400 failed"
    if target.dialect == "mysql":  # its first statement stays applied: undone by hand, then settled as absent
        target.execute("DELETE FROM gamma_t")
        _api(target, resolve_unfinished, 400, False, ["gamma"], registry=_chain(agent_package).registry())
    again = _api(target, run_agent_migrations, agents=["gamma"], registry=_chain(agent_package).registry())
    assert again.versions == (400,)
    assert target.query("SELECT id, beta_id FROM gamma_t") == [(1, 1)]


def test_two_runners_on_a_fresh_database_apply_each_migration_once_in_requirement_order(
    target: Target, agent_package: Callable[..., str]
) -> None:
    import threading

    chain = _chain(agent_package)
    registries = [chain.registry(), chain.registry()]
    barrier = threading.Barrier(2)
    outcomes: list[Any] = [None, None]

    def runner(index: int) -> None:
        connection = target.connect()
        try:
            barrier.wait()
            outcomes[index] = run_agent_migrations(connection, agents=["gamma"], registry=registries[index])
        except BaseException as error:  # reported below
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(isinstance(o, BaseException) for o in outcomes), outcomes
    applied = sorted(outcomes[0].versions + outcomes[1].versions)
    assert applied == [1, 2, 3, 10, 20, 30, 400, 500, 600], "each migration applied exactly once"
    by_time = [row[0] for row in sorted(target.history(), key=lambda row: (row[2], row[0]))]
    assert by_time == [1, 2, 3, 30, 600, 20, 500, 10, 400]
    assert target.query("SELECT id, beta_id FROM gamma_t") == [(1, 1)]


def test_database_refuses_a_version_another_agent_applied(tmp_path: Path, agent_package: Callable[..., str]) -> None:
    import sqlite3

    path = tmp_path / "agents.sqlite"
    alpha = agent_package({"V100__create_alpha_notes": ALPHA_SQL})
    beta = agent_package({"V100__create_beta_notes": "CREATE TABLE beta_notes (id INT PRIMARY KEY);"})
    Database(path, ["alpha"], registry=registry_of(alpha=alpha)).close()

    def history() -> Any:
        connection = sqlite3.connect(path)
        try:
            return connection.execute("SELECT * FROM refinery_schema_history ORDER BY version").fetchall()
        finally:
            connection.close()

    before = history()
    with pytest.raises(MigrationConflictError) as raised:
        Database(path, ["beta"], registry=registry_of(beta=beta))
    error = raised.value
    assert (error.version, error.recorded_agent, error.agent, error.in_history) == (100, "alpha", "beta", True)
    assert "V100__create_beta_notes" in str(error) and "(registered in-process)" in str(error)
    assert history() == before
