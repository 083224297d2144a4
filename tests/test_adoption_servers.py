"""Adopting a database without history on PostgreSQL and MariaDB: data-only migrations are never guessed.

The same cases as the SQLite ones in test_adoption.py, on the private
servers: a seed migration after an adopted table stops the run before
anything changes (``AdoptionAmbiguousError``, exit 4 from the command, also
for ``migrate --dry-run``); fresh databases and databases holding only
unrelated tables still get every migration, data migrations included.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from conftest import registry_of

from nocodo_agents import AdoptionAmbiguousError, PartialSchemaError
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import baseline, verify_database
from nocodo_agents.loading import load_migrations
from nocodo_agents.schema.split import split_statements

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

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql)
            found = list(cursor.fetchall())
        self.conn.commit()
        return found

    def tables(self) -> set[str]:
        schema = "current_schema()" if self.dialect == "postgresql" else "DATABASE()"
        return {r[0] for r in self.rows(f"SELECT table_name FROM information_schema.tables WHERE table_schema = {schema}")}

    def colours(self) -> list[str]:
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
        assert error.source in str(error) and "lifecycle.baseline(conn, V)" in str(error)
        assert "`nocodo-agents baseline --version V`" in hint_for(error)
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


# -- migrations with SQL for one server only: replayed in their own dialect ----------------------------

#: Per dialect: V100 and V101 written only for that server (``dialect_sql`` with no SQLite SQL), in its own
#: syntax; on MySQL two tables each with an index named ``by_hue`` (MySQL names indexes per table).
SERVER_ONLY = {
    "postgresql": {
        "V100__palette": (
            "CREATE TABLE palette (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, hue TEXT NOT NULL, "
            "tags TEXT[] NOT NULL DEFAULT '{}');\nCREATE INDEX palette_by_hue ON palette USING btree (hue);"
        ),
        "V101__swatch": (
            "CREATE TABLE swatch (id SERIAL PRIMARY KEY, palette BIGINT REFERENCES palette (id), body JSONB);\n"
            "ALTER TABLE palette ADD COLUMN note TEXT COLLATE \"C\";"
        ),
    },
    "mysql": {
        "V100__palette": (
            "CREATE TABLE palette (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, hue VARCHAR(40) NOT NULL) "
            "ENGINE=InnoDB;\nCREATE INDEX by_hue ON palette (hue);"
        ),
        "V101__swatch": (
            "CREATE TABLE swatch (id INT AUTO_INCREMENT PRIMARY KEY, palette BIGINT UNSIGNED, hue VARCHAR(40), "
            "KEY by_hue (hue), FOREIGN KEY (palette) REFERENCES palette (id)) ENGINE=InnoDB;\n"
            "ALTER TABLE palette ADD COLUMN note TEXT AFTER hue;"
        ),
    },
}
PORTABLE = "CREATE TABLE portable_after (id INTEGER);"


def server_only_agent(agent_package, dialect: str) -> str:
    """V100 and V101 with SQL for ``dialect`` only, then V102 in portable SQL."""
    modules = {
        name: f"from nocodo_agents.plugins import dialect_sql\nmigration = dialect_sql({dialect}={sql!r})\n"
        for name, sql in SERVER_ONLY[dialect].items()
    }
    modules["V102__portable_after"] = PORTABLE
    return agent_package(modules)


def test_server_only_migrations_and_the_ones_after_them_are_adopted(db: ServerDatabase, agent_package) -> None:
    """Replayed in the server's own SQL (there is no SQLite SQL to replay), each is judged by what it creates."""
    db.make_legacy()
    for sql in SERVER_ONLY[db.dialect].values():
        db.run(sql)
    db.run(PORTABLE)
    palette = server_only_agent(agent_package, db.dialect)
    before = db.tables()
    dry = run_agent_migrations(db.conn, registry=registry_of(palette=palette), dry_run=True)
    assert [s.version for s in dry.adopted] == [1, 2, 3, 100, 101, 102] and dry.applied == ()
    assert db.tables() == before, "a dry run changes nothing"
    report = run_agent_migrations(db.conn, registry=registry_of(palette=palette))
    assert [s.version for s in report.adopted] == [1, 2, 3, 100, 101, 102] and report.applied == ()
    assert db.tables() == before | {"refinery_schema_history"}
    assert not [t for t in db.tables() if t.startswith("nocodo_scratch")]
    assert verify_database(db.conn, registry=registry_of(palette=palette)).ok


def test_server_only_migration_absent_from_the_database_is_applied(db: ServerDatabase, agent_package) -> None:
    """Adopted up to V100 (present); V101 and V102 (absent) are applied, in the server's SQL."""
    db.make_legacy()
    db.run(SERVER_ONLY[db.dialect]["V100__palette"])
    palette = server_only_agent(agent_package, db.dialect)
    report = run_agent_migrations(db.conn, registry=registry_of(palette=palette))
    assert [s.version for s in report.adopted] == [1, 2, 3, 100] and report.versions == (101, 102)
    assert {"swatch", "portable_after"} <= db.tables()


def test_server_only_migration_partly_present_stops(db: ServerDatabase, agent_package) -> None:
    """V101's swatch exists but the column it adds to palette does not: judged from the server's SQL, refused."""
    db.make_legacy()
    db.run(SERVER_ONLY[db.dialect]["V100__palette"])
    db.run(SERVER_ONLY[db.dialect]["V101__swatch"].split(";\n")[0] + ";")
    with pytest.raises(PartialSchemaError) as raised:
        run_agent_migrations(db.conn, registry=registry_of(palette=server_only_agent(agent_package, db.dialect)))
    assert raised.value.version == 101 and raised.value.missing == ("column palette.note",)
    assert "refinery_schema_history" not in db.tables()


def test_data_migration_read_from_the_server_sql_stops_when_its_table_is_live(db: ServerDatabase, agent_package) -> None:
    """What a server-only data migration writes to is read from its statements (no authorizer there)."""
    db.make_legacy()
    db.run(SERVER_ONLY[db.dialect]["V100__palette"])
    seed = {"postgresql": "UPDATE palette AS p SET hue = lower(p.hue) WHERE p.hue <> 'CONCURRENTLY';", "mysql": "INSERT IGNORE INTO `palette` (hue) VALUES ('red');"}
    package = agent_package({
        "V100__palette": f"from nocodo_agents.plugins import dialect_sql\nmigration = dialect_sql({db.dialect}={SERVER_ONLY[db.dialect]['V100__palette']!r})\n",
        "V101__seed": f"from nocodo_agents.plugins import dialect_sql\nmigration = dialect_sql({db.dialect}={seed[db.dialect]!r})\n",
    })
    with pytest.raises(AdoptionAmbiguousError) as raised:
        run_agent_migrations(db.conn, registry=registry_of(palette=package))
    assert raised.value.version == 101 and raised.value.touched == ("palette",) and raised.value.adopted == (1, 2, 3, 100)
    assert "refinery_schema_history" not in db.tables()
