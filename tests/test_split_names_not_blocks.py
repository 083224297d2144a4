"""Names that are also block words (``begin``, ``end``, ``case``) inside routine bodies, and MariaDB's blocks outside routines.

``begin`` and ``end`` are not reserved on MySQL/MariaDB (and ``begin`` is not
on PostgreSQL, where any keyword is a column label after ``AS``): a booking
table's ``end`` column used inside a trigger or procedure ended the statement
there, and ``RETURNS TABLE (begin int)`` glued the rest of the script to the
function. MariaDB's ``IF ... END IF`` / ``WHILE ... END WHILE`` outside a
routine were split at their inner semicolons. Stored programs written under
``sql_mode=ORACLE`` (PL/SQL syntax) are refused by name before anything runs.
Each is run through the whole runner on every dialect where it applies; the
corpus (tests/sql_corpus/*/names_begin_end.sql, compound_outside_routines.sql)
checks the same forms against the servers' own splitting.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import registry_of
from test_split_before_anything import _journal, _rows  # rows of a query, and of the MySQL journal (none elsewhere)

from nocodo_agents import UnsplittableSqlError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.schema.split import split_statements

BOOKINGS = {
    "sqlite": (
        "CREATE TABLE booking (id INTEGER PRIMARY KEY, begin TEXT, end TEXT);\n"
        "CREATE TABLE log (what TEXT);\n"
        "CREATE TRIGGER booking_end AFTER INSERT ON booking BEGIN\n"
        "  UPDATE booking SET end = begin WHERE id = NEW.id AND end IS NULL;\n"
        "  INSERT INTO log SELECT CASE WHEN NEW.end IS NULL THEN 'open' ELSE 'closed' END;\n"
        "END;\n"
        "INSERT INTO booking (id, begin) VALUES (1, 'mon');\n"
        "INSERT INTO booking (id, begin, end) VALUES (2, 'tue', 'wed');"
    ),
    "postgresql": (
        "CREATE TABLE booking (id int PRIMARY KEY, begin text, finish text);\n"
        "CREATE TABLE log (what text);\n"
        "CREATE FUNCTION open_ones(begin text) RETURNS TABLE (begin text, finish text) LANGUAGE sql STABLE\n"
        "BEGIN ATOMIC SELECT b.begin, b.finish AS end FROM booking AS b WHERE b.begin = open_ones.begin; END;\n"
        "CREATE PROCEDURE book(i int, b text) LANGUAGE sql BEGIN ATOMIC\n"
        "  INSERT INTO booking (id, begin) VALUES (i, b);\n"
        "  UPDATE booking SET finish = begin WHERE id = i;\n"
        "  INSERT INTO log SELECT CASE WHEN i > 1 THEN 'closed' ELSE 'open' END AS case;\n"
        "END;\n"
        "CALL book(1, 'mon');\n"
        "CALL book(2, 'tue');"
    ),
    "mariadb": (
        "CREATE TABLE booking (id INT PRIMARY KEY, begin VARCHAR(9), end VARCHAR(9));\n"
        "CREATE TABLE log (what VARCHAR(9));\n"
        "CREATE TRIGGER booking_end BEFORE INSERT ON booking FOR EACH ROW BEGIN\n"
        "  IF NEW.end IS NULL THEN SET NEW.end = NEW.begin; END IF;\n"
        "  INSERT INTO log SELECT CASE WHEN NEW.id > 1 THEN 'closed' ELSE 'open' END;\n"
        "END;\n"
        "CREATE PROCEDURE fix() BEGIN DECLARE end INT DEFAULT 0; UPDATE booking SET end = begin WHERE end IS NULL; "
        "SELECT id AS begin, end FROM booking; END;\n"
        "INSERT INTO booking (id, begin) VALUES (1, 'mon');\n"
        "INSERT INTO booking (id, begin, end) VALUES (2, 'tue', 'wed');\n"
        "CALL fix();"
    ),
}


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def conn(request: pytest.FixtureRequest, dialect: str, tmp_path: Path) -> Iterator[Any]:
    if dialect == "sqlite":
        connection: Any = sqlite3.connect(tmp_path / "names.sqlite")
    elif dialect == "postgresql":
        server = request.getfixturevalue("postgres_server")
        name = f"nocodo_names_{uuid.uuid4().hex[:12]}"
        server.create_database(name)
        connection = psycopg.connect(server.dsn(name))
    else:
        connection = request.getfixturevalue("mariadb_server").connect(request.getfixturevalue("mariadb_database"))
    yield connection
    connection.close()


def test_begin_and_end_named_columns_inside_routine_bodies_run_as_the_server_reads_them(conn: Any, dialect: str, agent_package) -> None:
    registry = registry_of(book=agent_package({"V100__bookings": BOOKINGS[dialect]}))
    result = run_agent_migrations(conn, registry=registry)
    assert [step.version for step in result.applied][-1] == 100
    closed = "finish" if dialect == "postgresql" else "end"
    assert _rows(conn, f"SELECT id, {closed} FROM booking ORDER BY id") == [(1, "mon"), (2, "tue" if dialect == "postgresql" else "wed")]
    assert _rows(conn, "SELECT what FROM log ORDER BY what") == [("closed",), ("open",)]
    assert not _journal(conn)


def test_mariadb_compound_statements_outside_routines_run_whole(mariadb_server, mariadb_database, agent_package) -> None:
    sql = (
        "CREATE TABLE counter (n INT);\n"
        "BEGIN NOT ATOMIC DECLARE i INT DEFAULT 0; WHILE i < 2 DO INSERT INTO counter VALUES (i); SET i = i + 1; END WHILE; END;\n"
        "IF (SELECT COUNT(*) FROM counter) = 2 THEN INSERT INTO counter VALUES (10); INSERT INTO counter VALUES (11); END IF;\n"
        "CASE WHEN 1 THEN INSERT INTO counter VALUES (20); ELSE INSERT INTO counter VALUES (-20); END CASE;"
    )
    assert len(split_statements(sql, "mysql")) == 4
    conn = mariadb_server.connect(mariadb_database)
    try:
        run_agent_migrations(conn, registry=registry_of(blocks=agent_package({"V100__blocks": sql})))
        assert _rows(conn, "SELECT n FROM counter ORDER BY n") == [(0,), (1,), (10,), (11,), (20,)]
        assert not _journal(conn)
    finally:
        conn.close()


@pytest.mark.parametrize(
    "program",
    [
        "CREATE PROCEDURE p(a INT) IS v INT := 0; BEGIN v := a; INSERT INTO r VALUES (v); END;",
        "CREATE PACKAGE pk AS PROCEDURE p; END;",
        "DECLARE v INT := 1; BEGIN INSERT INTO r VALUES (v); END;",
    ],
    ids=["procedure", "package", "anonymous-block"],
)
def test_mariadb_stored_programs_under_sql_mode_oracle_are_refused_before_anything_runs(
    mariadb_server, mariadb_database, agent_package, program: str
) -> None:
    sql = f"SET sql_mode = 'ORACLE';\nCREATE TABLE r (v INT);\n{program}\nINSERT INTO r VALUES (2);"
    conn = mariadb_server.connect(mariadb_database)
    try:
        registry = registry_of(
            ora=agent_package({"V100__first": "CREATE TABLE first_one (v INT);", "V101__oracle": sql})
        )
        with pytest.raises(UnsplittableSqlError) as raised:
            run_agent_migrations(conn, registry=registry)
        message = str(raised.value)
        assert raised.value.version == 101 and "V101__oracle" in message and "sql_mode ORACLE" in message
        assert "default syntax" in raised.value.advice  # type: ignore[operator]
        assert not _rows(conn, "SHOW TABLES")  # not even V100 ran
        assert not _journal(conn)
    finally:
        conn.close()


@pytest.mark.parametrize("mode", ["ORACLE", "'ORACLE'", "'STRICT_ALL_TABLES,ORACLE'"])
def test_sql_mode_oracle_is_read_whether_quoted_or_not(mode: str) -> None:
    with pytest.raises(Exception) as raised:
        split_statements(f"SET sql_mode = {mode}; CREATE PROCEDURE p AS BEGIN NULL; END;", "mysql")
    assert "sql_mode ORACLE" in str(raised.value)


def test_sql_mode_ansi_as_a_bare_word_makes_double_quotes_names() -> None:
    sql = 'SET sql_mode = ANSI; CREATE TABLE "a;b" (x INT); SELECT 1'
    assert split_statements(sql, "mysql") == ["SET sql_mode = ANSI", 'CREATE TABLE "a;b" (x INT)', "SELECT 1"]


@pytest.mark.parametrize(
    "sql, count",
    [
        ("CREATE PROCEDURE p() BEGIN SELECT x AS end FROM t; END; SELECT 1", 2),
        ("CREATE PROCEDURE p() BEGIN SELECT CASE WHEN a THEN end ELSE begin END FROM t; END; SELECT 1", 2),
        ("CREATE PROCEDURE p() BEGIN DECLARE end INT; REPEAT SET end = end + 1; UNTIL end > 3 END REPEAT; END; SELECT 1", 2),
        ("CREATE PROCEDURE p() BEGIN INSERT INTO t (begin, end) VALUES (1, 2); END; SELECT 1", 2),
        ("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW IF NEW.x THEN UPDATE u SET end = 1; END IF; SELECT 1", 2),
        ("BEGIN; SELECT 1; COMMIT", 3),
        ("BEGIN WORK; SELECT 1; COMMIT", 3),
    ],
)
def test_mysql_begin_and_end_as_names_split_where_the_server_splits(sql: str, count: int) -> None:
    assert len(split_statements(sql, "mysql")) == count


@pytest.mark.parametrize(
    "sql, count",
    [
        ("CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN begin; SELECT 1", 2),
        ("CREATE FUNCTION f() RETURNS TABLE (begin int) LANGUAGE sql BEGIN ATOMIC SELECT 1; END; SELECT 1", 2),
        ("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS end; SELECT 2 AS case; END; SELECT 1", 2),
        ('CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT "t".end FROM t; END; SELECT 1', 2),
        ("CREATE TRIGGER t AFTER INSERT ON x REFERENCING NEW TABLE AS begin FOR EACH STATEMENT EXECUTE FUNCTION f(); SELECT 1", 2),
        ("BEGIN; SELECT CASE WHEN true THEN 1 END; COMMIT", 3),
    ],
)
def test_postgresql_begin_end_and_case_as_names_split_where_the_server_splits(sql: str, count: int) -> None:
    assert len(split_statements(sql, "postgresql")) == count
