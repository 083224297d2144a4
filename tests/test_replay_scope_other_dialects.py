"""The schema replay's siblings of MySQL's escape, on SQLite and PostgreSQL: the live data stays unchanged.

SQLite replays in a separate in-memory database; the way out of it would be
``ATTACH``ing the live file, which the migration checks refuse before any
replay (:class:`SessionStateError`). PostgreSQL replays in a transaction
that is rolled back, leaving out statements that only change rows (a live
sequence they advanced would stay advanced); other statements naming the live
schema are rolled back with it, and a ``COMMIT`` that would keep it is refused before any replay
(:class:`TransactionControlError`). Checked with ``verify`` and with dry runs
and runs of an adoption.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import registry_of
from test_adoption_servers import ServerDatabase

from nocodo_agents import SchemaReplayError, SessionStateError, TransactionControlError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import baseline, verify_database

_names = itertools.count()


def only(dialect: str, sql: str) -> str:
    return f"from nocodo_agents.plugins import dialect_sql\nmigration = dialect_sql({dialect}={sql!r})\n"


def test_sqlite_replay_cannot_attach_the_live_file(db_path: Path, agent_package) -> None:
    palette = "CREATE TABLE palette (id INTEGER PRIMARY KEY, hue TEXT NOT NULL);"
    live = sqlite3.connect(db_path)
    live.executescript(palette + "INSERT INTO palette (hue) VALUES ('blue');")
    escape = f"ATTACH '{db_path}' AS l;\nINSERT INTO l.palette (hue) VALUES ('red');\nDETACH l;"
    registry = registry_of(palette=agent_package({"V100__palette": only("sqlite", palette), "V101__escape": only("sqlite", escape)}))

    def rows() -> list[Any]:
        check = sqlite3.connect(db_path)
        try:
            return check.execute("SELECT hue FROM palette").fetchall()
        finally:
            check.close()

    for dry_run in (True, False):
        with pytest.raises(SessionStateError):
            run_agent_migrations(live, registry=registry, dry_run=dry_run)
        assert rows() == [("blue",)]
    baseline(live, 101, registry=registry)  # recorded as applied without running: verify replays it
    for _ in range(2):
        with pytest.raises(SessionStateError):
            verify_database(live, registry=registry)
        assert rows() == [("blue",)]
    live.close()


@pytest.fixture
def pg(postgres_server) -> Iterator[ServerDatabase]:
    import psycopg

    name = f"replay_scope_pg_{next(_names)}"
    postgres_server.create_database(name)
    conn = psycopg.connect(postgres_server.dsn(name))
    try:
        yield ServerDatabase("postgresql", conn, postgres_server.url(name))
    finally:
        conn.close()


PG_PALETTE = "CREATE TABLE palette (id SERIAL PRIMARY KEY, hue TEXT NOT NULL);"


@pytest.mark.parametrize(
    "statement",
    [
        'INSERT INTO "public"."palette" (hue) VALUES (\'red\');',
        "UPDATE public.palette SET hue = hue || '!';",
        "DELETE FROM public.palette;",
        "CREATE TABLE public.extra (id INTEGER);",
    ],
)
def test_postgresql_replay_of_statements_naming_the_live_schema_is_rolled_back(pg: ServerDatabase, agent_package, statement: str) -> None:
    registry = registry_of(palette=agent_package({"V100__palette": only("postgresql", PG_PALETTE), "V101__qualified": only("postgresql", statement)}))
    run_agent_migrations(pg.conn, registry=registry)
    pg.run("INSERT INTO palette (hue) VALUES ('blue')")
    tables, rows = pg.tables(), pg.rows("SELECT id, hue FROM palette ORDER BY id")
    sequence = pg.rows("SELECT last_value, is_called FROM palette_id_seq")
    for _ in range(2):
        try:
            verify_database(pg.conn, registry=registry)  # drift or not, it must change nothing
        except SchemaReplayError as error:  # the qualified CREATE TABLE meets the live table inside the transaction
            assert error.version == 101 and "already exists" in str(error)
        assert pg.tables() == tables and pg.rows("SELECT id, hue FROM palette ORDER BY id") == rows
        # not even the live sequence: nextval() is not rolled back with the replay's transaction
        assert pg.rows("SELECT last_value, is_called FROM palette_id_seq") == sequence


def test_postgresql_replay_cannot_commit_its_way_out(pg: ServerDatabase, agent_package) -> None:
    pg.run(PG_PALETTE + "\nINSERT INTO palette (hue) VALUES ('blue');")
    escape = "COMMIT;\nINSERT INTO public.palette (hue) VALUES ('red');\nCOMMIT;"
    registry = registry_of(palette=agent_package({"V100__palette": only("postgresql", PG_PALETTE), "V101__escape": only("postgresql", escape)}))
    for dry_run in (True, False):
        with pytest.raises(TransactionControlError):
            run_agent_migrations(pg.conn, registry=registry, dry_run=dry_run)
        assert pg.rows("SELECT hue FROM palette") == [("blue",)]
        assert "refinery_schema_history" not in pg.tables()
    baseline(pg.conn, 101, registry=registry)
    for _ in range(2):
        with pytest.raises(TransactionControlError):
            verify_database(pg.conn, registry=registry)
        assert pg.rows("SELECT hue FROM palette") == [("blue",)]
