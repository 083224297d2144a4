"""Hostile tests of issue 10's adoption with dialect-only SQL on the servers: scratch space, and what data migrations touch.

Adoption replays a history-less database's pending migrations in the
server's own SQL in a scratch schema (PostgreSQL, rolled back) or a scratch
database (MariaDB, dropped). Attacks: a replayed statement that fails there,
a connection killed in the middle of the replay, and data-only migrations
written with CTEs, quoted and schema-qualified names, ``INSERT ... SELECT``
and triggers, which adoption must never guess were applied. The scratch is
looked for where it lives (schemas, databases), not among the tables.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from conftest import registry_of
from test_adoption_servers import ServerDatabase

from nocodo_agents import AdoptionAmbiguousError, DatabaseAccessError, MigrationError
from nocodo_agents.database.migrations import run_agent_migrations

_names = itertools.count()

PALETTE = {
    "postgresql": "CREATE TABLE palette (id SERIAL PRIMARY KEY, hue TEXT NOT NULL);",
    "mysql": "CREATE TABLE palette (id INT AUTO_INCREMENT PRIMARY KEY, hue VARCHAR(40) NOT NULL) ENGINE=InnoDB;",
}


def only(dialect: str, sql: str) -> str:
    """A migration module with SQL for ``dialect`` only."""
    return f"from nocodo_agents.plugins import dialect_sql\nmigration = dialect_sql({dialect}={sql!r})\n"


@pytest.fixture(params=["postgresql", "mariadb"])
def db(request: pytest.FixtureRequest) -> Iterator[ServerDatabase]:
    name = f"hostile10_adopt_{next(_names)}"
    server = request.getfixturevalue("postgres_server" if request.param == "postgresql" else "mariadb_server")
    server.create_database(name)
    if request.param == "postgresql":
        import psycopg

        conn = psycopg.connect(server.dsn(name))
        db = ServerDatabase("postgresql", conn, server.url(name))
    else:
        conn = server.connect(name)
        db = ServerDatabase("mysql", conn, server.url(name))
    db.server = server  # type: ignore[attr-defined]
    db.name = name  # type: ignore[attr-defined]
    try:
        yield db
    finally:
        conn.close()


def scratch_left(db: ServerDatabase) -> list[str]:
    """Every scratch schema (PostgreSQL, this database) or scratch database (MariaDB, the server) still there."""
    if db.dialect == "postgresql":
        return [r[0] for r in db.rows("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'nocodo_scratch%'")]
    return [r[0] for r in db.rows("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'nocodo\\_scratch%'")]


def test_a_statement_failing_in_the_scratch_leaves_no_scratch_behind(db: ServerDatabase, agent_package) -> None:
    """V101's server SQL fails when replayed (and when applied): the run fails naming it; the scratch is gone."""
    db.run(PALETTE[db.dialect])
    package = agent_package({
        "V100__palette": only(db.dialect, PALETTE[db.dialect]),
        "V101__broken": only(db.dialect, "ALTER TABLE no_such_table ADD COLUMN x INTEGER;"),
    })
    with pytest.raises(MigrationError) as raised:
        run_agent_migrations(db.conn, registry=registry_of(palette=package))
    assert "V101" in str(raised.value) or getattr(raised.value, "version", None) == 101
    assert scratch_left(db) == []
    assert "palette" in db.tables()


@pytest.mark.parametrize(
    "seed",
    [
        pytest.param({"postgresql": "WITH red AS (SELECT 'red' AS hue) INSERT INTO palette (hue) SELECT hue FROM red;",
                      "mysql": "INSERT INTO palette (hue) WITH red AS (SELECT 'red' AS hue) SELECT hue FROM red;"}, id="cte"),
        pytest.param({"postgresql": 'INSERT INTO "public"."palette" (hue) VALUES (\'red\');',
                      "mysql": "INSERT INTO `palette` (hue) VALUES ('red');"}, id="qualified-quoted"),
        pytest.param({"postgresql": "INSERT INTO palette (hue) SELECT 'r' || g FROM generate_series(1, 3) g;",
                      "mysql": "INSERT INTO palette (hue) SELECT CONCAT('r', seq) FROM seq_1_to_3;"}, id="insert-select"),
        pytest.param({"postgresql": "UPDATE palette SET hue = upper(hue) FROM (SELECT 1) AS one;",
                      "mysql": "UPDATE palette p JOIN (SELECT 1 AS one) o SET p.hue = upper(p.hue);"}, id="update-joined"),
        pytest.param({"postgresql": "SELECT setval(pg_get_serial_sequence('palette', 'id'), 100);",
                      "mysql": "SELECT 1 INTO @x;"}, id="select"),
    ],
)
def test_data_only_migrations_after_an_adopted_table_are_never_guessed(db: ServerDatabase, agent_package, seed) -> None:
    db.run(PALETTE[db.dialect])
    package = agent_package({
        "V100__palette": only(db.dialect, PALETTE[db.dialect]),
        "V101__seed": only(db.dialect, seed[db.dialect]),
    })
    with pytest.raises(AdoptionAmbiguousError) as raised:
        run_agent_migrations(db.conn, registry=registry_of(palette=package))
    assert raised.value.version == 101 and raised.value.adopted == (100,)
    assert "refinery_schema_history" not in db.tables()
    assert db.rows("SELECT COUNT(*) FROM palette") == [(0,)], "nothing was written to the live table"
    assert scratch_left(db) == []


def test_a_trigger_on_an_adopted_table_is_adopted_only_when_present(db: ServerDatabase, agent_package) -> None:
    """A trigger creates an object: present, it is adopted; absent, it is applied (not guessed from its table)."""
    trigger = {
        "postgresql": (
            "CREATE FUNCTION palette_upper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.hue := upper(NEW.hue); "
            "RETURN NEW; END $$;\nCREATE TRIGGER palette_upper BEFORE INSERT ON palette FOR EACH ROW EXECUTE FUNCTION palette_upper();"
        ),
        "mysql": "CREATE TRIGGER palette_upper BEFORE INSERT ON palette FOR EACH ROW SET NEW.hue = upper(NEW.hue);",
    }[db.dialect]
    db.run(PALETTE[db.dialect])
    package = agent_package({"V100__palette": only(db.dialect, PALETTE[db.dialect]), "V101__trigger": only(db.dialect, trigger)})
    report = run_agent_migrations(db.conn, registry=registry_of(palette=package))
    assert [s.version for s in report.adopted] == [100] and report.versions == (1, 2, 3, 101)
    db.run("INSERT INTO palette (hue) VALUES ('red')")
    assert db.rows("SELECT hue FROM palette") == [("RED",)], "the trigger was applied, once"
    assert scratch_left(db) == []


SLOW = {"postgresql": "CREATE TABLE slow (id INTEGER);\nSELECT pg_sleep(30);", "mysql": "CREATE TABLE slow (id INTEGER);\nSELECT SLEEP(30);"}


def _kill_when_sleeping(db: ServerDatabase, killed: list[Any]) -> Callable[[], None]:
    """Kill the runner's connection once it sleeps in the scratch replay, from an operator's connection."""
    server = db.server  # type: ignore[attr-defined]

    def kill() -> None:
        if db.dialect == "postgresql":
            import psycopg

            operator = psycopg.connect(server.dsn(db.name), autocommit=True)  # type: ignore[attr-defined]
            find = "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%%' AND pid <> pg_backend_pid()"
            stop = "SELECT pg_terminate_backend(%s)"
        else:
            operator = server.connect()
            find = "SELECT id FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(30)%%' AND id <> CONNECTION_ID()"
            stop = "KILL CONNECTION %s"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with operator.cursor() as cursor:
                    cursor.execute(find)
                    found = cursor.fetchall()
                    if found:
                        cursor.execute(stop, (found[0][0],))
                        killed.append(found[0][0])
                        return
                if db.dialect == "mysql":
                    operator.commit()
                time.sleep(0.05)
        finally:
            operator.close()

    return kill


def test_a_connection_killed_during_the_adoption_replay(db: ServerDatabase, agent_package, caplog) -> None:
    """The run fails with a named error; PostgreSQL's scratch died with the transaction; MariaDB's is named to drop by hand."""
    db.run(PALETTE[db.dialect])
    package = agent_package({"V100__palette": only(db.dialect, PALETTE[db.dialect]), "V101__slow": only(db.dialect, SLOW[db.dialect])})
    killed: list[Any] = []
    killer = threading.Thread(target=_kill_when_sleeping(db, killed))
    killer.start()
    try:
        with pytest.raises(DatabaseAccessError):
            run_agent_migrations(db.conn, registry=registry_of(palette=package))
    finally:
        killer.join()
    assert killed, "the replay's sleep was found and killed"
    server = db.server  # type: ignore[attr-defined]
    if db.dialect == "postgresql":
        import psycopg

        check = ServerDatabase("postgresql", psycopg.connect(server.dsn(db.name)), db.url)  # type: ignore[attr-defined]
    else:
        check = ServerDatabase("mysql", server.connect(db.name), db.url)  # type: ignore[attr-defined]
    try:
        left = scratch_left(check)
        if db.dialect == "postgresql":
            assert left == [], "the scratch schema was rolled back with the transaction"
        for name in left:  # DDL commits on MySQL: a dead connection cannot drop it; the log names it
            assert any(name in record.getMessage() and "drop it by hand" in record.getMessage() for record in caplog.records)
            check.run(f"DROP DATABASE `{name}`")
        assert "refinery_schema_history" not in check.tables() and "slow" not in check.tables()
    finally:
        check.conn.close()
