"""The splitters against the servers themselves, over a corpus of real-world DDL (tests/sql_corpus/).

Each corpus script is split by our splitter and every statement is run on
the real server in a scratch schema (PostgreSQL, inside a transaction rolled
back afterwards) or database (MariaDB); the same script is then run whole by
an oracle that splits it itself: PostgreSQL's simple query protocol (psycopg
without parameters), MariaDB's ``CLIENT.MULTI_STATEMENTS`` (PyMySQL), SQLite's
``executescript``. The statement counts and the catalog afterwards (tables and
columns, rows, routines, triggers, events, rules, views) must match.

Generated variations insert a comment or whitespace at every token boundary
of every corpus script: the split must stay the same statements (the
inserted text aside), which is checked exhaustively without a server, and a
sample of variations (several insertions at once) is checked against the
same server oracle.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymysql.constants import CLIENT

from nocodo_agents.schema.lexer import EXEC_CLOSE, EXEC_OPEN, SqlSyntax, mysql_version_id, tokens
from nocodo_agents.schema.split import split_statements
from nocodo_agents.schema.sqlite_split import split_sqlite_statements

CORPUS = Path(__file__).parent / "sql_corpus"


def _scripts(dialect: str) -> list[Path]:
    return sorted((CORPUS / dialect).glob("*.sql"))


def _split(sql: str, dialect: str, syntax: SqlSyntax) -> list[str]:
    return split_sqlite_statements(sql) if dialect == "sqlite" else split_statements(sql, dialect, syntax)


# -- comments and whitespace inserted at token boundaries --------------------------------------------

#: What may stand between any two tokens, per dialect: semicolons and END inside them must not split.
INSERTS: dict[str, tuple[str, ...]] = {
    "postgresql": (" -- c; END;\n", " /* c; /* nested; END */ BEGIN ATOMIC */ ", "\n\t "),
    "mysql": (" -- c; END;\n", " # c; END IF;\n", " /* c; END; */ ", " /*!99999 skipped; END */ ", "\n\t "),
    "sqlite": (" -- c; END;\n", " /* c; END; */ ", "\n\t "),
}


def _boundaries(sql: str, syntax: SqlSyntax) -> list[int]:
    """Offsets between two tokens where a space may stand, and the ends; not inside MySQL executable comments.

    Two tokens that touch are one operator or literal to the server (``||``,
    ``<>``, ``U&'...'``, ``N'...'``) unless one of them is ``(``, ``)``, ``,``
    or ``;``; on MySQL a name touching its ``(`` is a function call, so stays touching.
    """
    found, inside, previous = {0, len(sql)}, False, None
    for token in tokens(sql, syntax):
        separable = previous is None or previous.end < token.start or sql[previous.start] in "(),;" or sql[token.start] in "(),;"
        if syntax.dialect == "mysql" and previous is not None and previous.end == token.start and sql[token.start] == "(":
            separable = False  # MAX(x) is the function, MAX (x) a name MariaDB looks up (IGNORE_SPACE is off)
        if not inside and separable:
            found.add(token.start)
        inside = (inside or token.kind == EXEC_OPEN) and token.kind != EXEC_CLOSE
        previous = token
    if syntax.dialect == "mysql":  # a comment after the last statement is one more (empty) statement to MariaDB
        last = max(token.start for token in tokens(sql, syntax) if sql[token.start] == ";")
        found = {offset for offset in found if offset <= last}
    return sorted(found)


def _insert(sql: str, at: list[int], texts: list[str]) -> str:
    for offset, text in sorted(zip(at, texts), reverse=True):
        sql = sql[:offset] + text + sql[offset:]
    return sql


def _same_code(statements: list[str], inserted: tuple[str, ...]) -> list[str]:
    """The statements with the inserted texts taken out and whitespace evened, to compare with the base split."""
    evened = []
    for statement in statements:
        for text in inserted:
            if text.strip():
                statement = statement.replace(text.strip(), " ")
        evened.append("".join(statement.split()))
    return [s for s in evened if s]


def _syntax(dialect: str) -> SqlSyntax:
    """How the servers started by the fixtures read the text (MariaDB 10+: every executable comment below 99999 runs)."""
    syntax = SqlSyntax.default(dialect)
    return replace(syntax, server_version=100000) if dialect == "mysql" else syntax


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_a_comment_or_whitespace_at_any_token_boundary_splits_the_same(dialect: str) -> None:
    syntax = _syntax(dialect)
    checked = 0
    for path in _scripts(dialect):
        sql = path.read_text()
        base = _same_code(_split(sql, dialect, syntax), ())
        for offset in _boundaries(sql, syntax):
            for text in INSERTS[dialect]:
                variant = _insert(sql, [offset], [text])
                got = _same_code(_split(variant, dialect, syntax), INSERTS[dialect])
                assert got == base, (path.name, offset, text, sql[max(0, offset - 40) : offset] + "<HERE>" + sql[offset : offset + 40])
                checked += 1
    assert checked > 500


def test_every_corpus_dialect_has_scripts() -> None:
    for dialect in ("postgresql", "mysql", "sqlite"):
        assert len(_scripts(dialect)) >= 1


# -- PostgreSQL: the simple query protocol splits the script itself --------------------------------------

_PG_CATALOG = {
    "columns": "SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
    "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum WHERE n.nspname = 'corpus' ORDER BY 1, 3",
    "routines": "SELECT p.proname, p.prokind, pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname = 'corpus' ORDER BY 1",
    "triggers": "SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'corpus' AND NOT t.tgisinternal ORDER BY 1",
    "rules": "SELECT rulename, definition FROM pg_rules WHERE schemaname = 'corpus' ORDER BY 1",
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'corpus' ORDER BY 1",
    "comments": "SELECT c.relname, d.description FROM pg_description d JOIN pg_class c ON c.oid = d.objoid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'corpus' ORDER BY 1",
}


@pytest.fixture(scope="module")
def pg(postgres_server) -> Iterator[psycopg.Connection]:
    name = f"nocodo_corpus_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    connection = psycopg.connect(postgres_server.dsn(name))
    yield connection
    connection.close()


def _pg_snapshot(connection: psycopg.Connection) -> dict[str, Any]:
    snapshot: dict[str, Any] = {key: connection.execute(query).fetchall() for key, query in _PG_CATALOG.items()}
    for (table,) in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'corpus' ORDER BY 1").fetchall():
        snapshot[f"rows of {table}"] = connection.execute(f'SELECT * FROM corpus."{table}" ORDER BY 1').fetchall()
    return snapshot


def _pg_run(connection: psycopg.Connection, sql: str, split: bool) -> tuple[int, dict[str, Any]]:
    """(statements run, catalog afterwards): split by us, or sent whole for the server to split; rolled back."""
    try:
        connection.execute("CREATE SCHEMA corpus")
        connection.execute("SET LOCAL search_path = corpus")
        if split:
            statements = split_statements(sql, "postgresql")
            for statement in statements:
                connection.execute(statement)
            count = len(statements)
        else:
            cursor = connection.execute(sql)  # no parameters: the simple query protocol, the server splits
            count = 1
            while cursor.nextset():
                count += 1
        return count, _pg_snapshot(connection)
    finally:
        connection.rollback()


def _pg_check(connection: psycopg.Connection, sql: str) -> None:
    ours = _pg_run(connection, sql, split=True)
    server = _pg_run(connection, sql, split=False)
    assert ours[0] == server[0], "statement counts differ"
    assert ours[1] == server[1]


@pytest.mark.parametrize("script", _scripts("postgresql"), ids=lambda p: p.name)
def test_postgresql_corpus_splits_as_the_server_splits(pg, script: Path) -> None:
    sql = script.read_text()
    _pg_check(pg, sql)
    assert _pg_run(pg, sql, split=True)[1]["routines"] or _pg_run(pg, sql, split=True)[1]["columns"]


# -- MariaDB: CLIENT.MULTI_STATEMENTS splits the script itself ----------------------------------------------

_MARIA_CATALOG = {
    "columns": "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, COLUMN_DEFAULT, COLUMN_COMMENT FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2",
    "routines": "SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION, ROUTINE_COMMENT, SQL_MODE FROM information_schema.ROUTINES "
    "WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY 1",
    "triggers": "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER, ACTION_STATEMENT, SQL_MODE "
    "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1",
    "events": "SELECT EVENT_NAME, EVENT_DEFINITION, STATUS, EVENT_COMMENT FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() ORDER BY 1",
}


@pytest.fixture(scope="module")
def maria_pair(mariadb_server) -> Iterator[tuple[Any, Any, SqlSyntax]]:
    """Two connections, each to a scratch database of its own: ours (statement by statement) and the oracle's (multi statements)."""
    names = [f"nocodo_corpus_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    for name in names:
        mariadb_server.create_database(name)
    ours = mariadb_server.connect(names[0])
    oracle = pymysql.connect(
        host=mariadb_server.host, port=mariadb_server.port, user=mariadb_server.user, password="", database=names[1],
        client_flag=CLIENT.MULTI_STATEMENTS,
    )
    version, mariadb = mysql_version_id(ours.get_server_info())
    with ours.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.sql_mode")
        mode = cursor.fetchone()[0]
    yield ours, oracle, replace(SqlSyntax.default("mysql"), server_version=version, mariadb=mariadb).with_sql_mode(mode)
    ours.close()
    oracle.close()
    admin = mariadb_server.connect()
    with admin.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


def _maria_fresh(connection: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DATABASE()")
        name = cursor.fetchone()[0]
        cursor.execute(f"DROP DATABASE `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}`")
        cursor.execute(f"USE `{name}`")
        cursor.execute("SET SESSION sql_mode = DEFAULT")
    connection.commit()


def _body(value: Any) -> Any:
    """A stored body as compared: the server trims trailing whitespace and ``;`` from a statement it is sent
    alone (``alloc_query``), even inside a trailing ``-- ...;`` comment, but not from one it splits itself."""
    return value.rstrip(" \t\r\n;") if isinstance(value, str) else value


def _maria_snapshot(connection: Any) -> dict[str, Any]:
    snapshot: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for key, query in _MARIA_CATALOG.items():
            cursor.execute(query)
            snapshot[key] = tuple(tuple(_body(value) for value in row) for row in cursor.fetchall())
        cursor.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1")
        for (table,) in cursor.fetchall():
            cursor.execute(f"SELECT * FROM `{table}` ORDER BY 1")
            snapshot[f"rows of {table}"] = cursor.fetchall()
    connection.commit()
    return snapshot


def _maria_run(connection: Any, sql: str, syntax: SqlSyntax, split: bool) -> tuple[int, dict[str, Any]]:
    _maria_fresh(connection)
    with connection.cursor() as cursor:
        if split:
            statements = split_statements(sql, "mysql", syntax)
            count = 0
            for statement in statements:
                cursor.execute(statement)
                count += 1
                while cursor.nextset():  # a CALL's result sets, and its status
                    count += 1
        else:
            cursor.execute(sql)
            count = 1
            while cursor.nextset():
                count += 1
    connection.commit()
    _reset_session(connection)
    return count, _maria_snapshot(connection)


def _reset_session(connection: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION sql_mode = DEFAULT")


def _maria_check(pair: tuple[Any, Any, SqlSyntax], sql: str) -> None:
    ours, oracle, syntax = pair
    mine = _maria_run(ours, sql, syntax, split=True)
    server = _maria_run(oracle, sql, syntax, split=False)
    assert mine[0] == server[0], "result counts differ"
    assert mine[1] == server[1]


@pytest.mark.parametrize("script", _scripts("mysql"), ids=lambda p: p.name)
def test_mariadb_corpus_splits_as_the_server_splits(maria_pair, script: Path) -> None:
    _maria_check(maria_pair, script.read_text())


# -- SQLite: executescript splits the script itself ----------------------------------------------------------


def _sqlite_snapshot(connection: sqlite3.Connection) -> dict[str, Any]:
    snapshot: dict[str, Any] = {"schema": connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY 2").fetchall()}
    for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1").fetchall():
        snapshot[f"rows of {table}"] = connection.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
    return snapshot


def _sqlite_check(sql: str) -> None:
    ours = sqlite3.connect(":memory:", isolation_level=None)
    statements = split_sqlite_statements(sql)
    for statement in statements:
        assert sqlite3.complete_statement(statement + ";"), statement
        ours.execute(statement)
    server = sqlite3.connect(":memory:", isolation_level=None)
    server.executescript(sql)
    assert _sqlite_snapshot(ours) == _sqlite_snapshot(server)


@pytest.mark.parametrize("script", _scripts("sqlite"), ids=lambda p: p.name)
def test_sqlite_corpus_splits_as_sqlite_splits(script: Path) -> None:
    _sqlite_check(script.read_text())


# -- generated variations against the same oracles ------------------------------------------------------------


@st.composite
def _variation(draw: Any, dialect: str, syntax: SqlSyntax) -> str:
    sql = draw(st.sampled_from(_scripts(dialect))).read_text()
    boundaries = _boundaries(sql, syntax)
    count = draw(st.integers(1, 6))
    at = [draw(st.sampled_from(boundaries)) for _ in range(count)]
    texts = [draw(st.sampled_from(INSERTS[dialect])) for _ in range(count)]
    return _insert(sql, at, texts)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_postgresql_variations_split_as_the_server_splits(pg, data: Any) -> None:
    _pg_check(pg, data.draw(_variation("postgresql", _syntax("postgresql"))))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mariadb_variations_split_as_the_server_splits(maria_pair, data: Any) -> None:
    _maria_check(maria_pair, data.draw(_variation("mysql", maria_pair[2])))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_sqlite_variations_split_as_sqlite_splits(data: Any) -> None:
    _sqlite_check(data.draw(_variation("sqlite", _syntax("sqlite"))))


def test_sqlite_piece_of_comments_only_is_no_statement_as_on_the_other_dialects() -> None:
    sql = "SELECT 1; /* c; */ ; -- the end;\n"
    assert split_sqlite_statements(sql) == ["SELECT 1;"]
    assert split_statements(sql, "postgresql") == split_statements(sql, "mysql") == ["SELECT 1"]
