"""The schema layer (``nocodo_agents.schema``): the readers only it has.

Its place in the layers (it imports nothing above it) is checked with every
other module's by ``tests/test_import_layers.py``.

* PostgreSQL's replay drops the keyword ``CONCURRENTLY`` of a
  ``transactional = False`` migration only where the lexer reads it as a
  word: a string literal holding it is replayed as written, so the drift
  check finds no drift where the old regular expression invented some.
* What a server migration touches is read from its statements with the
  lexer; what cannot be read is unknown (``None``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from conftest import registry_of

from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import verify_database
from nocodo_agents.schema.scratch_postgresql import without_concurrently
from nocodo_agents.schema.touched import touched_names


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("CREATE INDEX CONCURRENTLY i ON t (a);", "CREATE INDEX  i ON t (a);"),
        ("create unique index concurrently if not exists i ON t (a)", "create unique index  if not exists i ON t (a)"),
        ("ALTER TABLE t ADD c TEXT DEFAULT 'CONCURRENTLY';", "ALTER TABLE t ADD c TEXT DEFAULT 'CONCURRENTLY';"),
        ('CREATE TABLE "CONCURRENTLY" (a INT); -- CONCURRENTLY\n', 'CREATE TABLE "CONCURRENTLY" (a INT); -- CONCURRENTLY\n'),
        ("SELECT $q$ CONCURRENTLY $q$, /* CONCURRENTLY */ 1", "SELECT $q$ CONCURRENTLY $q$, /* CONCURRENTLY */ 1"),
        ("CREATE INDEX CONCURRENTLY concurrently_idx ON t (a)", "CREATE INDEX  concurrently_idx ON t (a)"),
        ("SELECT 'unterminated", "SELECT 'unterminated"),
    ],
)
def test_without_concurrently_removes_the_keyword_only(sql: str, expected: str) -> None:
    assert without_concurrently(sql) == expected


@pytest.mark.parametrize(
    "dialect, sql, expected",
    [
        ("postgresql", "INSERT INTO colours (name) VALUES ('red')", {"colours"}),
        ("mysql", "INSERT IGNORE INTO `Colours` VALUES ('x')", {"colours"}),
        ("mysql", "REPLACE INTO t VALUES (1)", {"t"}),
        ("postgresql", "UPDATE public.t SET a = 1 WHERE b = 'DROP TABLE x'", {"t"}),
        ("postgresql", "UPDATE t AS x SET a = 1", {"t"}),
        ("postgresql", 'UPDATE "s"."T" SET a = 1', {"t"}),
        ("postgresql", "DELETE FROM t WHERE a = 1", {"t"}),
        ("postgresql", "DROP TABLE IF EXISTS a, b CASCADE", {"a", "b"}),
        ("mysql", "DROP INDEX i ON t", {"i", "t", "t.i"}),
        ("postgresql", "DROP INDEX CONCURRENTLY IF EXISTS i", {"i"}),
        ("postgresql", "DROP FUNCTION f(int, text)", {"f"}),
        ("postgresql", "ALTER TABLE ONLY s.t ADD COLUMN x INT", {"t"}),
        ("mysql", "ALTER IGNORE TABLE t ADD x INT", {"t"}),
        ("postgresql", "TRUNCATE TABLE a, b", {"a", "b"}),
        ("mysql", "RENAME TABLE a TO b, c TO d", {"a", "c"}),
        ("postgresql", "CREATE OR REPLACE VIEW v AS SELECT 1", {"v"}),
        ("mysql", "CREATE OR REPLACE ALGORITHM=MERGE VIEW v AS SELECT 1", {"v"}),
        ("postgresql", "CREATE TABLE IF NOT EXISTS x (a int)", set()),
        ("mysql", "SET FOREIGN_KEY_CHECKS = 0", set()),
        ("postgresql", "COMMENT ON TABLE t IS 'DELETE FROM u'", set()),
        # not readable: unknown
        ("postgresql", "SELECT setval('s', 1)", None),
        ("postgresql", "WITH x AS (DELETE FROM t RETURNING *) SELECT 1", None),
        ("postgresql", "DO $$ BEGIN DELETE FROM t; END $$", None),
        ("mysql", "UPDATE t1 JOIN t2 ON t1.a = t2.a SET t2.b = 1", None),
        ("mysql", "UPDATE t1, t2 SET t2.b = 1", None),
        ("mysql", "DELETE t1 FROM t1 JOIN t2 ON t1.a = t2.a", None),
        ("mysql", "CALL fill_colours()", None),
    ],
)
def test_touched_names_read_from_statements(dialect: str, sql: str, expected: set | None) -> None:
    found = touched_names([sql], dialect)
    assert (None if found is None else set(found)) == expected


def test_one_unreadable_statement_makes_the_whole_migration_unknown() -> None:
    assert touched_names(["INSERT INTO a VALUES (1)", "SELECT f()"], "postgresql") is None
    assert touched_names(["INSERT INTO a VALUES (1)", "UPDATE b SET x = 1"], "postgresql") == {"a", "b"}


# -- on the PostgreSQL server -------------------------------------------------------------------------

_names = itertools.count()


@pytest.fixture
def pg_conn(postgres_server) -> Iterator[object]:
    import psycopg

    name = f"schema_layer_{next(_names)}"
    postgres_server.create_database(name)
    connection = psycopg.connect(postgres_server.dsn(name))
    yield connection
    connection.close()


def test_concurrently_in_a_string_literal_is_replayed_as_written(pg_conn, agent_package) -> None:
    """A non-transactional migration whose default holds the word: the old regex replayed it as '' (false drift)."""
    package = agent_package({
        "V5__table": "CREATE TABLE notes (id BIGINT, body TEXT);",
        "V6__index": (
            "def migration():\n"
            "    return \"CREATE INDEX CONCURRENTLY notes_body ON notes (body);\\n"
            "ALTER TABLE notes ADD COLUMN how TEXT DEFAULT 'built CONCURRENTLY';\"\n\n"
            "transactional = False\n"
        ),
    })
    assert run_agent_migrations(pg_conn, registry=registry_of(notes=package)).versions == (1, 2, 3, 5, 6)
    report = verify_database(pg_conn, registry=registry_of(notes=package))
    assert report.ok and report.drift.differences == (), [str(d) for d in report.drift.differences]
    rows: list[tuple[str]] = pg_conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'nocodo_scratch%'").fetchall()  # type: ignore[attr-defined]
    assert rows == []
