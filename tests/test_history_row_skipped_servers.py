"""A trigger that skips the history row without an error: no migration commits without its row (PostgreSQL).

PostgreSQL's ``BEFORE INSERT`` trigger returning ``NULL`` makes the INSERT
write nothing and raise nothing. The history row travels with ``COMMIT`` in
one message (``dialects/postgresql/batched.py``): its row check must stop the
message before ``COMMIT``. SQLite's ``RAISE(IGNORE)`` is covered by
``tests/test_review4_stretch_hostile.py``; MySQL's triggers cannot skip a row.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest
from conftest import plugin_returning

from nocodo_agents import HistoryTableError, run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.migration import Migration

_names = itertools.count()

SKIP_FROM_101 = [
    "CREATE FUNCTION skip_history_rows() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN IF NEW.version >= 101 THEN RETURN NULL; END IF; RETURN NEW; END $$",
    "CREATE TRIGGER skip_history_rows BEFORE INSERT ON refinery_schema_history FOR EACH ROW EXECUTE FUNCTION skip_history_rows()",
]


def registry(*versions: int) -> AgentRegistry:
    return AgentRegistry.from_plugins(
        {"skipped": plugin_returning([Migration(v, f"create_s_{v}", f"CREATE TABLE s_{v} (id INTEGER)") for v in versions])}
    )


@pytest.fixture
def pg(postgres_server) -> Iterator[psycopg.Connection]:  # type: ignore[no-untyped-def]
    name = f"skipped_{next(_names)}"
    postgres_server.create_database(name)
    connection = psycopg.connect(postgres_server.dsn(name))
    yield connection
    connection.close()


def _state(connection: psycopg.Connection) -> tuple[list[int], list[str]]:
    with connection.cursor() as cursor:
        versions = [row[0] for row in cursor.execute("SELECT version FROM refinery_schema_history ORDER BY version")]
        tables = [row[0] for row in cursor.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 's\\_%' ORDER BY tablename")]
    connection.commit()
    return versions, tables


@pytest.mark.parametrize("grouped", [False, True], ids=["per-migration", "grouped"])
def test_a_history_row_a_postgresql_trigger_skips_stops_the_run_before_its_commit(pg: psycopg.Connection, grouped: bool) -> None:
    run_agent_migrations(pg, registry=registry(100))
    with pg.cursor() as cursor:
        for statement in SKIP_FROM_101:
            cursor.execute(statement)
    pg.commit()
    with pytest.raises(HistoryTableError) as caught:
        run_agent_migrations(pg, registry=registry(100, 101, 102), grouped=grouped)
    assert "took the row of version 101 without writing it" in str(caught.value)
    assert "returning NULL" in str(caught.value)
    assert _state(pg) == ([1, 2, 3, 100], ["s_100"]), "nothing of V101 (or the grouped run) committed"

