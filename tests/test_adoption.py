"""A database made before history existed is adopted by the runner."""

import sqlite3

import pytest
from conftest import history, registry_of, tables

from nocodo_agents import AdoptionAmbiguousError, PartialSchemaError
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import baseline
from nocodo_agents.loading import load_migrations


def make_legacy(connection: sqlite3.Connection) -> None:
    """The core tables as an older release created them, without any history."""
    for migration in load_migrations("nocodo_agents.database.migrations"):
        connection.executescript(migration.sql("sqlite"))
    connection.execute("INSERT INTO agent_sessions (agent_name, provider, model, user_prompt, started_at) VALUES ('a', 'p', 'm', 'u', 1)")
    connection.commit()


def test_legacy_core_tables_are_adopted_and_the_rest_applied(conn, agent_package) -> None:
    make_legacy(conn)
    qna = agent_package({"V4__create_qna": "CREATE TABLE qna (id INTEGER);"})
    report = run_agent_migrations(conn, registry=registry_of(qna=qna))
    assert [s.version for s in report.adopted] == [1, 2, 3]
    assert report.versions == (4,)
    assert history(conn) == [
        (1, "create_agent_sessions", "core"),
        (2, "create_agent_messages", "core"),
        (3, "create_agent_tool_calls", "core"),
        (4, "create_qna", "qna"),
    ]
    assert conn.execute("SELECT COUNT(*) FROM agent_sessions").fetchone() == (1,), "data kept"
    assert run_agent_migrations(conn, registry=registry_of(qna=qna)).applied == ()


def test_database_class_adopts_the_same_way(db_path) -> None:
    connection = sqlite3.connect(db_path)
    make_legacy(connection)
    connection.close()
    from nocodo_agents.database import Database

    db = Database(db_path, agents=[], registry=AgentRegistry([]))
    assert [s.version for s in db.migration_report.adopted] == [1, 2, 3]
    db.close()


def test_partly_present_schema_stops_before_anything_changes(conn) -> None:
    conn.executescript("CREATE TABLE agent_sessions (id INTEGER PRIMARY KEY, agent_name TEXT);")
    before = tables(conn)
    with pytest.raises(PartialSchemaError) as raised:
        run_agent_migrations(conn, registry=AgentRegistry([]))
    error = raised.value
    assert error.version == 1 and error.agent == "core"
    assert "column agent_sessions.user_prompt" in error.missing
    assert "table agent_sessions" in error.present
    assert "lacks" in str(error) and "baseline" in str(error)
    assert tables(conn) == before, "not even the history table was created"


def test_dry_run_reports_adoption_without_recording_it(conn) -> None:
    make_legacy(conn)
    report = run_agent_migrations(conn, registry=AgentRegistry([]), dry_run=True)
    assert [s.version for s in report.adopted] == [1, 2, 3] and report.applied == ()
    assert "refinery_schema_history" not in tables(conn)


def test_unrelated_tables_do_not_trigger_adoption(conn) -> None:
    conn.executescript("CREATE TABLE my_app_table (id INTEGER);")
    report = run_agent_migrations(conn, registry=AgentRegistry([]))
    assert report.adopted == () and report.versions == (1, 2, 3)


# -- migrations that create no schema object ------------------------------------------------------

COLOURS = "CREATE TABLE colours (name VARCHAR(40) NOT NULL);"
SEED = "INSERT INTO colours (name) VALUES ('red');\nINSERT INTO colours (name) VALUES ('green');"


def seed_agent(agent_package) -> str:
    """V100 creates a table, V101 fills it with seed rows (no key: running it twice duplicates them)."""
    return agent_package({"V100__create_colours": COLOURS, "V101__seed_colours": SEED})


def colours(connection: sqlite3.Connection) -> list:
    return connection.execute("SELECT name FROM colours ORDER BY rowid").fetchall()


def test_seed_rows_are_never_run_twice_on_adoption(conn, agent_package) -> None:
    make_legacy(conn)
    conn.executescript(COLOURS + SEED)
    seed = seed_agent(agent_package)
    before = tables(conn)
    for dry_run in (True, False):
        with pytest.raises(AdoptionAmbiguousError) as raised:
            run_agent_migrations(conn, registry=registry_of(seed=seed), dry_run=dry_run)
        error = raised.value
        assert (error.version, error.name, error.agent) == (101, "seed_colours", "seed")
        assert error.source.endswith("V101__seed_colours.py") and error.source in str(error)
        assert error.distribution in str(error) and error.touched == ("colours",)
        assert error.adopted == (1, 2, 3, 100)
        assert "lifecycle.baseline(conn, V)" in str(error) and "the command line's baseline" in str(error)
        assert "`nocodo-agents baseline --version V`" in hint_for(error) and "V101 if that migration" in hint_for(error)
        assert "`nocodo-agents migrate`" in hint_for(error)
        assert "nothing was changed" in str(error)
        assert tables(conn) == before, "not even the history table was created"
        assert colours(conn) == [("red",), ("green",)]
    # What the error advises: record what the database holds, then migrate.
    baseline(conn, 101, registry=registry_of(seed=seed))
    assert run_agent_migrations(conn, registry=registry_of(seed=seed)).applied == ()
    assert colours(conn) == [("red",), ("green",)]


def test_fresh_database_applies_data_migrations(conn, agent_package) -> None:
    report = run_agent_migrations(conn, registry=registry_of(seed=seed_agent(agent_package)))
    assert report.versions == (1, 2, 3, 100, 101) and report.adopted == ()
    assert colours(conn) == [("red",), ("green",)]


def test_unrelated_tables_still_get_data_migrations(conn, agent_package) -> None:
    conn.executescript("CREATE TABLE my_app_table (id INTEGER); INSERT INTO my_app_table VALUES (1);")
    report = run_agent_migrations(conn, registry=registry_of(seed=seed_agent(agent_package)))
    assert report.versions == (1, 2, 3, 100, 101) and report.adopted == ()
    assert colours(conn) == [("red",), ("green",)]


def test_seed_of_a_table_this_run_creates_is_applied_after_adoption(conn, agent_package) -> None:
    make_legacy(conn)  # the core tables exist; the agent was installed later
    report = run_agent_migrations(conn, registry=registry_of(seed=seed_agent(agent_package)))
    assert [s.version for s in report.adopted] == [1, 2, 3] and report.versions == (100, 101)
    assert colours(conn) == [("red",), ("green",)]


def test_dropping_migration_after_an_adopted_one_stops(conn, agent_package) -> None:
    make_legacy(conn)
    conn.executescript("CREATE TABLE shades (name TEXT); INSERT INTO shades VALUES ('dark');")
    package = agent_package({"V100__create_shades": "CREATE TABLE shades (name TEXT);", "V101__drop_shades": "DROP TABLE shades;"})
    before = tables(conn)
    for dry_run in (True, False):
        with pytest.raises(AdoptionAmbiguousError) as raised:
            run_agent_migrations(conn, registry=registry_of(shades=package), dry_run=dry_run)
        assert raised.value.version == 101 and raised.value.touched == ("shades",)
    assert tables(conn) == before
    assert conn.execute("SELECT name FROM shades").fetchall() == [("dark",)]


def test_data_migration_before_the_adopted_ones_stops_too(conn, agent_package) -> None:
    make_legacy(conn)
    conn.executescript("CREATE TABLE app_settings (key TEXT);")
    # V0 writes to a table no migration creates, so it cannot be replayed; V1-V3 are still judged.
    package = agent_package({"V0__settings": "INSERT INTO app_settings VALUES ('theme');"})
    for dry_run in (True, False):
        with pytest.raises(AdoptionAmbiguousError) as raised:
            run_agent_migrations(conn, registry=registry_of(early=package), dry_run=dry_run)
        assert raised.value.version == 0 and raised.value.adopted == (1, 2, 3)
    assert conn.execute("SELECT COUNT(*) FROM app_settings").fetchone() == (0,)
    assert "refinery_schema_history" not in tables(conn)


def test_migration_that_cannot_be_replayed_stops_adoption(conn, agent_package) -> None:
    make_legacy(conn)
    conn.executescript("CREATE TABLE app_settings (key TEXT); ")
    # The scratch database has no app_settings (no migration creates it): the footprint is unknown.
    package = agent_package({"V100__settings": "INSERT INTO app_settings VALUES ('theme');"})
    with pytest.raises(AdoptionAmbiguousError) as raised:
        run_agent_migrations(conn, registry=registry_of(settings=package))
    assert raised.value.version == 100 and raised.value.touched == ()
    assert "cannot be replayed" in str(raised.value)
    assert conn.execute("SELECT COUNT(*) FROM app_settings").fetchone() == (0,)
    assert "refinery_schema_history" not in tables(conn)


def test_migration_touching_nothing_is_applied_after_adoption(conn, agent_package) -> None:
    make_legacy(conn)
    package = agent_package({"V100__noop": "CREATE TABLE IF NOT EXISTS agent_sessions (id INTEGER);"})
    report = run_agent_migrations(conn, registry=registry_of(noop=package))
    assert [s.version for s in report.adopted] == [1, 2, 3] and report.versions == (100,)


def test_command_exits_4_for_migrate_and_its_dry_run(tmp_path) -> None:
    from cli_support import Cli, sql_module, write_agent_distribution

    site = tmp_path / "site"
    site.mkdir()
    write_agent_distribution(
        site, "seed-agent", "seed", "seed_agent",
        {"V100__create_colours": sql_module(COLOURS), "V101__seed_colours": sql_module(SEED)},
    )
    database = tmp_path / "legacy.db"
    connection = sqlite3.connect(database)
    make_legacy(connection)
    connection.executescript(COLOURS + SEED)
    connection.close()
    before = database.read_bytes()
    cli = Cli(tmp_path, site)
    for extra in (["--dry-run"], []):
        result = cli("migrate", "--agent", "seed", "--db", str(database), *extra)
        assert result.code == 4, result.text
        assert "V101__seed_colours of agent 'seed' (distribution seed-agent" in result.err
        assert "baseline --version" in result.err and "Traceback" not in result.err
    assert database.read_bytes() == before
    assert cli("baseline", "--version", "101", "--agent", "seed", "--db", str(database)).code == 0
    assert cli("migrate", "--agent", "seed", "--db", str(database)).code == 0
    connection = sqlite3.connect(database)
    assert colours(connection) == [("red",), ("green",)]
    connection.close()
