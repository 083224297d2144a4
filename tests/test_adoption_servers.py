"""Adopting a database without history on PostgreSQL and MariaDB: data-only migrations are never guessed.

The same cases as the SQLite ones in test_adoption.py, on the private
servers: a seed migration after an adopted table stops the run before
anything changes (``AdoptionAmbiguousError``, exit 4 from the command, also
for ``migrate --dry-run``); fresh databases and databases holding only
unrelated tables still get every migration, data migrations included.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterator, List, Set, Tuple

import pytest

from cli_support import Cli, sql_module, write_agent_distribution
from conftest import registry_of
from nocodo_agents import AdoptionAmbiguousError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import baseline
from nocodo_agents.loading import load_migrations
from nocodo_agents.sql_split import split_statements

_names = itertools.count()

COLOURS = "CREATE TABLE colours (name VARCHAR(40) NOT NULL);"
SEED = "INSERT INTO colours (name) VALUES ('red');\nINSERT INTO colours (name) VALUES ('green');"


class ServerDatabase:
    """A fresh database on one of the servers, with an idle connection for the runner."""

    def __init__(self, dialect: str, conn: Any, url: str) -> None:
        self.dialect = dialect
        self.conn = conn
        self.url = url

    def run(self, sql: str) -> None:
        """Run ``sql`` (several statements) and commit."""
        with self.conn.cursor() as cursor:
            for statement in split_statements(sql, self.dialect):
                cursor.execute(statement)
        self.conn.commit()

    def rows(self, sql: str) -> List[Tuple[Any, ...]]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql)
            found = list(cursor.fetchall())
        self.conn.commit()
        return found

    def tables(self) -> Set[str]:
        schema = "current_schema()" if self.dialect == "postgresql" else "DATABASE()"
        return {r[0] for r in self.rows(f"SELECT table_name FROM information_schema.tables WHERE table_schema = {schema}")}

    def colours(self) -> List[str]:
        return sorted(r[0] for r in self.rows("SELECT name FROM colours"))

    def make_legacy(self) -> None:
        """The core tables as an older release created them, without any history."""
        for migration in load_migrations("nocodo_agents.database.migrations"):
            self.run(migration.sql(self.dialect))


@pytest.fixture(params=["postgresql", "mariadb"])
def db(request: pytest.FixtureRequest) -> Iterator[ServerDatabase]:
    name = f"adopt_{next(_names)}"
    if request.param == "postgresql":
        import psycopg

        server = request.getfixturevalue("postgres_server")
        server.create_database(name)
        conn = psycopg.connect(server.dsn(name))
        dialect = "postgresql"
    else:
        server = request.getfixturevalue("mariadb_server")
        server.create_database(name)
        conn = server.connect(name)
        dialect = "mysql"
    try:
        yield ServerDatabase(dialect, conn, server.url(name))
    finally:
        conn.close()


def seed_agent(agent_package) -> str:
    return agent_package({"V100__create_colours": COLOURS, "V101__seed_colours": SEED})


def test_seed_rows_are_never_run_twice_on_adoption(db: ServerDatabase, agent_package) -> None:
    db.make_legacy()
    db.run(COLOURS + SEED)
    seed = seed_agent(agent_package)
    before = db.tables()
    for dry_run in (True, False):
        with pytest.raises(AdoptionAmbiguousError) as raised:
            run_agent_migrations(db.conn, registry=registry_of(seed=seed), dry_run=dry_run)
        error = raised.value
        assert (error.version, error.agent, error.touched, error.adopted) == (101, "seed", ("colours",), (1, 2, 3, 100))
        assert error.source in str(error) and "baseline --version" in str(error)
        assert db.tables() == before, "not even the history table was created"
        assert db.colours() == ["green", "red"]
    baseline(db.conn, 101, registry=registry_of(seed=seed))
    assert run_agent_migrations(db.conn, registry=registry_of(seed=seed)).applied == ()
    assert db.colours() == ["green", "red"]


def test_fresh_database_applies_data_migrations(db: ServerDatabase, agent_package) -> None:
    report = run_agent_migrations(db.conn, registry=registry_of(seed=seed_agent(agent_package)))
    assert report.versions == (1, 2, 3, 100, 101) and report.adopted == ()
    assert db.colours() == ["green", "red"]


def test_unrelated_tables_still_get_data_migrations(db: ServerDatabase, agent_package) -> None:
    db.run("CREATE TABLE my_app_table (id INTEGER);\nINSERT INTO my_app_table VALUES (1);")
    report = run_agent_migrations(db.conn, registry=registry_of(seed=seed_agent(agent_package)))
    assert report.versions == (1, 2, 3, 100, 101) and report.adopted == ()
    assert db.colours() == ["green", "red"]


def test_seed_of_a_table_this_run_creates_is_applied_after_adoption(db: ServerDatabase, agent_package) -> None:
    db.make_legacy()
    report = run_agent_migrations(db.conn, registry=registry_of(seed=seed_agent(agent_package)))
    assert [s.version for s in report.adopted] == [1, 2, 3] and report.versions == (100, 101)
    assert db.colours() == ["green", "red"]


def test_dropping_migration_after_an_adopted_one_stops(db: ServerDatabase, agent_package) -> None:
    db.make_legacy()
    db.run("CREATE TABLE shades (name VARCHAR(20));\nINSERT INTO shades VALUES ('dark');")
    package = agent_package({"V100__create_shades": "CREATE TABLE shades (name VARCHAR(20));", "V101__drop_shades": "DROP TABLE shades;"})
    before = db.tables()
    for dry_run in (True, False):
        with pytest.raises(AdoptionAmbiguousError) as raised:
            run_agent_migrations(db.conn, registry=registry_of(shades=package), dry_run=dry_run)
        assert raised.value.version == 101 and raised.value.touched == ("shades",)
    assert db.tables() == before
    assert db.rows("SELECT name FROM shades") == [("dark",)]


def test_command_exits_4_for_migrate_and_its_dry_run(db: ServerDatabase, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    write_agent_distribution(
        site, "seed-agent", "seed", "seed_agent",
        {"V100__create_colours": sql_module(COLOURS), "V101__seed_colours": sql_module(SEED)},
    )
    db.make_legacy()
    db.run(COLOURS + SEED)
    cli = Cli(tmp_path, site)
    for extra in (["--dry-run"], []):
        result = cli("migrate", "--agent", "seed", "--db", db.url, *extra)
        assert result.code == 4, result.text
        assert "V101__seed_colours of agent 'seed' (distribution seed-agent" in result.err
        assert "baseline --version" in result.err and "Traceback" not in result.err
    assert "refinery_schema_history" not in db.tables()
    assert db.colours() == ["green", "red"]
