"""Schema drift: the live SQLite schema against the one the applied migrations produce."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import registry_of

from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.drift import (
    DriftReport,
    SchemaDifference,
    SchemaReplayError,
    compare_schemas,
    expected_sqlite_schema,
    sqlite_schema_drift,
)
from nocodo_agents.planning import PlannedMigration, merge
from nocodo_agents.schema.describe_sqlite import describe_sqlite_schema, owning_object

STATUS_CHECK = "check agent_sessions: status IN ('running', 'completed', 'failed', 'waiting_for_user_input')"


def core() -> tuple[PlannedMigration, ...]:
    return merge(AgentRegistry([]).requested_sets([]))


def core_sql(version: int) -> str:
    return next(p for p in core() if p.version == version).sql("sqlite")


@pytest.fixture
def migrated(conn: sqlite3.Connection) -> sqlite3.Connection:
    """A database file holding the core schema, applied by the runner."""
    run_agent_migrations(conn, registry=AgentRegistry([]))
    return conn


def kinds(report: DriftReport) -> dict[str, str]:
    return {d.key: d.kind for d in report.differences}


def rebuild(connection: sqlite3.Connection, table: str, sql: str) -> None:
    """Replace ``table`` by what ``sql`` creates (foreign key enforcement is off, as by default)."""
    connection.executescript(f"DROP TABLE {table};\n{sql}")


# -- a database as the migrations left it --------------------------------------------------


def test_freshly_migrated_database_has_no_drift(migrated: sqlite3.Connection) -> None:
    report = sqlite_schema_drift(migrated, core())
    assert report.differences == ()
    assert report.unmanaged == ()
    assert not report.has_drift
    assert str(report) == "no schema drift"


def test_description_of_the_core_schema(migrated: sqlite3.Connection) -> None:
    schema = describe_sqlite_schema(migrated)
    assert schema["table agent_sessions"] == "table"
    assert schema["column agent_sessions.id"] == "INTEGER PRIMARY KEY AUTOINCREMENT"
    assert schema["column agent_sessions.status"] == "TEXT NOT NULL DEFAULT 'running'"
    assert schema["column agent_sessions.error"] == "TEXT"
    assert schema[STATUS_CHECK] == "check"
    assert schema["index idx_agent_messages_session_created"] == "ON agent_messages (session_id, created_at)"
    assert schema["foreign key agent_messages (session_id)"] == (
        "REFERENCES agent_sessions (id) ON UPDATE NO ACTION ON DELETE CASCADE"
    )
    assert schema["foreign key agent_tool_calls (message_id)"] == (
        "REFERENCES agent_messages (id) ON UPDATE NO ACTION ON DELETE SET NULL"
    )
    assert not any("refinery_schema_history" in key or "sqlite_" in key for key in schema)
    assert len([k for k in schema if k.startswith("check ")]) == 3


def test_expected_schema_replays_in_version_order(migrated: sqlite3.Connection) -> None:
    assert expected_sqlite_schema(tuple(reversed(core()))) == describe_sqlite_schema(migrated)


# -- drift -----------------------------------------------------------------------------------


def test_dropped_index_is_missing(migrated: sqlite3.Connection) -> None:
    migrated.execute("DROP INDEX idx_agent_messages_session_created")
    report = sqlite_schema_drift(migrated, core())
    assert report.has_drift
    assert report.differences == (
        SchemaDifference(
            "missing", "index idx_agent_messages_session_created", "ON agent_messages (session_id, created_at)", None
        ),
    )
    assert str(report.differences[0]) == (
        "missing   index idx_agent_messages_session_created (expected ON agent_messages (session_id, created_at))"
    )


def test_added_column_is_unexpected(migrated: sqlite3.Connection) -> None:
    migrated.execute("ALTER TABLE agent_sessions ADD COLUMN note TEXT")
    report = sqlite_schema_drift(migrated, core())
    assert report.differences == (SchemaDifference("unexpected", "column agent_sessions.note", None, "TEXT"),)
    assert report.unmanaged == ()
    assert str(report) == "unexpected column agent_sessions.note TEXT"


def test_extra_index_and_trigger_on_a_managed_table_are_unexpected(migrated: sqlite3.Connection) -> None:
    migrated.executescript(
        "CREATE INDEX idx_foo ON agent_sessions (model);\n"
        "CREATE TRIGGER t_foo AFTER INSERT ON agent_messages BEGIN SELECT 1; END;"
    )
    report = sqlite_schema_drift(migrated, core())
    assert kinds(report) == {"index idx_foo": "unexpected", "trigger t_foo": "unexpected"}
    assert "unexpected index idx_foo ON agent_sessions (model)" in str(report).splitlines()


def test_rebuilt_table_with_another_default_differs(migrated: sqlite3.Connection) -> None:
    rebuild(migrated, "agent_sessions", core_sql(1).replace("DEFAULT 'running'", "DEFAULT 'failed'"))
    report = sqlite_schema_drift(migrated, core())
    assert report.differences == (
        SchemaDifference(
            "differs",
            "column agent_sessions.status",
            "TEXT NOT NULL DEFAULT 'running'",
            "TEXT NOT NULL DEFAULT 'failed'",
        ),
    )
    assert str(report.differences[0]) == (
        "differs   column agent_sessions.status: live TEXT NOT NULL DEFAULT 'failed', "
        "expected TEXT NOT NULL DEFAULT 'running'"
    )


def test_rebuilt_table_without_a_default_differs(migrated: sqlite3.Connection) -> None:
    rebuild(migrated, "agent_sessions", core_sql(1).replace(" DEFAULT 'running'", ""))
    report = sqlite_schema_drift(migrated, core())
    assert [(d.kind, d.key, d.live) for d in report.differences] == [
        ("differs", "column agent_sessions.status", "TEXT NOT NULL")
    ]


def test_rebuilt_table_without_its_check_misses_it(migrated: sqlite3.Connection) -> None:
    sql = core_sql(1).replace(
        "\n        CHECK (status IN ('running', 'completed', 'failed', 'waiting_for_user_input'))", ""
    )
    assert "CHECK" not in sql
    rebuild(migrated, "agent_sessions", sql)
    report = sqlite_schema_drift(migrated, core())
    assert report.differences == (SchemaDifference("missing", STATUS_CHECK, "check", None),)
    assert str(report) == f"missing   {STATUS_CHECK}"


def test_rebuilt_table_with_another_check_misses_one_and_has_another(migrated: sqlite3.Connection) -> None:
    rebuild(migrated, "agent_sessions", core_sql(1).replace("'failed', ", ""))
    assert kinds(sqlite_schema_drift(migrated, core())) == {
        STATUS_CHECK: "missing",
        "check agent_sessions: status IN ('running', 'completed', 'waiting_for_user_input')": "unexpected",
    }


def test_rebuilt_table_with_another_foreign_key_action_differs(migrated: sqlite3.Connection) -> None:
    rebuild(migrated, "agent_messages", core_sql(2).replace("ON DELETE CASCADE", "ON DELETE SET NULL"))
    report = sqlite_schema_drift(migrated, core())
    assert report.differences == (
        SchemaDifference(
            "differs",
            "foreign key agent_messages (session_id)",
            "REFERENCES agent_sessions (id) ON UPDATE NO ACTION ON DELETE CASCADE",
            "REFERENCES agent_sessions (id) ON UPDATE NO ACTION ON DELETE SET NULL",
        ),
    )


def test_rebuilt_table_without_a_foreign_key_misses_it(migrated: sqlite3.Connection) -> None:
    rebuild(
        migrated,
        "agent_tool_calls",
        core_sql(3).replace(" REFERENCES agent_messages (id) ON DELETE SET NULL", ""),
    )
    report = sqlite_schema_drift(migrated, core())
    assert [(d.kind, d.key) for d in report.differences] == [("missing", "foreign key agent_tool_calls (message_id)")]


def test_dropped_table_is_one_missing_entry(migrated: sqlite3.Connection) -> None:
    migrated.execute("DROP TABLE agent_tool_calls")
    report = sqlite_schema_drift(migrated, core())
    assert report.differences == (SchemaDifference("missing", "table agent_tool_calls", "table", None),)
    assert str(report) == "missing   table agent_tool_calls"


def test_changed_column_type_and_nullability_differ(migrated: sqlite3.Connection) -> None:
    rebuild(migrated, "agent_sessions", core_sql(1).replace("model TEXT NOT NULL", "model VARCHAR(100)"))
    report = sqlite_schema_drift(migrated, core())
    assert report.differences == (
        SchemaDifference("differs", "column agent_sessions.model", "TEXT NOT NULL", "VARCHAR(100)"),
    )


# -- what is not drift -----------------------------------------------------------------------


def test_application_tables_are_unmanaged_not_drift(migrated: sqlite3.Connection) -> None:
    migrated.executescript(
        """
        CREATE TABLE app_notes (id INTEGER PRIMARY KEY, body TEXT CHECK (body <> ''),
                                session_id INTEGER REFERENCES agent_sessions (id), UNIQUE (body));
        CREATE INDEX idx_app_notes_body ON app_notes (body);
        CREATE TRIGGER app_notes_touch AFTER INSERT ON app_notes BEGIN SELECT 1; END;
        CREATE VIEW app_recent AS SELECT * FROM agent_sessions ORDER BY started_at DESC;
        """
    )
    report = sqlite_schema_drift(migrated, core())
    assert report.differences == ()
    assert not report.has_drift
    assert report.unmanaged == ("table app_notes", "view app_recent")
    assert str(report) == "no schema drift\nnot managed by migrations (not drift): table app_notes, view app_recent"


def test_same_schema_written_differently_has_no_drift(conn: sqlite3.Connection) -> None:
    conn.executescript(
        """
        create table if not exists "agent_sessions"(
          id integer primary key autoincrement, agent_name text not null, provider text not null,
          model text not null, system_prompt text, user_prompt text not null, config text,
          -- the status of a run; CHECK (this comment is not a constraint)
          status text not null default 'running' check(status in('running','completed','failed',
                                                               'waiting_for_user_input')),
          started_at integer not null, ended_at integer, result text, [error] text);
        create table if not exists agent_messages (id integer primary key autoincrement,
          session_id integer not null references agent_sessions on delete cascade,
          role text not null /* one of four */ check (   role   in ( 'user' , 'assistant', 'system', 'tool' ) ),
          content text not null, created_at integer not null);
        create index if not exists idx_agent_messages_session_created on agent_messages(
          session_id ASC,created_at);
        CREATE TABLE agent_tool_calls (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          session_id INTEGER NOT NULL,
          message_id INTEGER,
          tool_call_id TEXT NOT NULL, tool_name TEXT NOT NULL, request TEXT NOT NULL, response TEXT,
          status TEXT NOT NULL DEFAULT 'pending',
          created_at INTEGER NOT NULL, completed_at INTEGER, execution_time_ms INTEGER, error_details TEXT,
          CONSTRAINT status_known CHECK (status IN ('pending', 'completed', 'failed')),
          FOREIGN KEY (message_id) REFERENCES "agent_messages" ("ID") ON DELETE SET NULL ON UPDATE NO ACTION,
          FOREIGN KEY (session_id) REFERENCES agent_sessions (id) ON DELETE CASCADE);
        CREATE INDEX idx_agent_tool_calls_session_status ON agent_tool_calls (session_id, status);
        """
    )
    report = sqlite_schema_drift(conn, core())
    assert report.differences == (), str(report)


# -- how the description is read -------------------------------------------------------------


def test_check_extraction_ignores_strings_and_comments(conn: sqlite3.Connection) -> None:
    conn.executescript(
        """
        CREATE TABLE t (
            a INTEGER DEFAULT 'CHECK (a > 1)', -- CHECK (a > 2)
            b TEXT /* CHECK (b > 3) */ CHECK(b<>'check (x)'),
            "check" INTEGER,
            CONSTRAINT positive CHECK ( a>0  AND  "check" >= -1 )
        );
        """
    )
    checks = sorted(k for k in describe_sqlite_schema(conn) if k.startswith("check "))
    assert checks == ['check t: a > 0 AND "check" >= -1', "check t: b != 'check (x)'"]
    assert describe_sqlite_schema(conn)["column t.a"] == "INTEGER DEFAULT 'CHECK (a > 1)'"


def test_composite_foreign_keys_and_unique_constraints(conn: sqlite3.Connection, agent_package) -> None:
    parent = "CREATE TABLE agent_parent (a INTEGER NOT NULL, b TEXT NOT NULL, c TEXT, UNIQUE (a, b), UNIQUE (c));"
    child = (
        "CREATE TABLE agent_child (x INTEGER, y TEXT, FOREIGN KEY (x, y) REFERENCES agent_parent (a, b) "
        "ON DELETE CASCADE ON UPDATE RESTRICT);"
    )
    package = agent_package({"V10__parent": parent, "V11__child": child})
    registry = registry_of(kids=package)
    run_agent_migrations(conn, ["kids"], registry=registry)
    applied = merge(registry.requested_sets(["kids"]))
    assert sqlite_schema_drift(conn, applied).differences == ()

    schema = describe_sqlite_schema(conn)
    assert schema["unique agent_parent (a, b)"] == "unique"
    assert schema["unique agent_parent (c)"] == "unique"
    assert schema["foreign key agent_child (x, y)"] == (
        "REFERENCES agent_parent (a, b) ON UPDATE RESTRICT ON DELETE CASCADE"
    )

    rebuild(conn, "agent_parent", parent.replace(", UNIQUE (a, b)", ", UNIQUE (b, a)"))
    rebuild(conn, "agent_child", child.replace("ON DELETE CASCADE", "ON DELETE SET DEFAULT"))
    assert kinds(sqlite_schema_drift(conn, applied)) == {
        "unique agent_parent (a, b)": "missing",
        "unique agent_parent (b, a)": "unexpected",
        "foreign key agent_child (x, y)": "differs",
    }


def test_named_index_details(conn: sqlite3.Connection) -> None:
    conn.executescript(
        """
        CREATE TABLE t (a TEXT COLLATE NOCASE, b INTEGER, c TEXT);
        CREATE UNIQUE INDEX t_a ON t (a DESC, b) WHERE b IS NOT NULL;
        CREATE INDEX t_expr ON t (lower(c) COLLATE RTRIM, b + 1 DESC);
        """
    )
    schema = describe_sqlite_schema(conn)
    assert schema["index t_a"] == "ON t (a COLLATE NOCASE DESC, b) UNIQUE WHERE b IS NOT NULL"
    assert schema["index t_expr"] == "ON t (lower(c) COLLATE RTRIM, b + 1 DESC)"
    assert schema["column t.a"] == "TEXT COLLATE NOCASE"


@pytest.mark.skipif(sqlite3.sqlite_version_info < (3, 37), reason="STRICT tables need SQLite 3.37")
def test_what_sqlite_does_not_report_is_read_from_the_statement(conn: sqlite3.Connection) -> None:
    conn.executescript(
        """
        CREATE TABLE p (id INTEGER PRIMARY KEY);
        CREATE TABLE t (
            a INTEGER REFERENCES p DEFERRABLE INITIALLY DEFERRED,
            b INTEGER REFERENCES p (id) DEFERRABLE INITIALLY IMMEDIATE,
            c INTEGER GENERATED ALWAYS AS (a+b) STORED,
            d TEXT DEFAULT current_timestamp
        ) STRICT;
        CREATE TABLE w (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
        """
    )
    schema = describe_sqlite_schema(conn)
    assert schema["foreign key t (a)"] == (
        "REFERENCES p (id) ON UPDATE NO ACTION ON DELETE NO ACTION DEFERRABLE INITIALLY DEFERRED"
    )
    assert schema["foreign key t (b)"] == "REFERENCES p (id) ON UPDATE NO ACTION ON DELETE NO ACTION"
    assert schema["column t.c"] == "INTEGER AS (a + b) STORED"
    assert schema["column t.d"] == "TEXT DEFAULT CURRENT_TIMESTAMP"
    assert schema["table t"] == "table STRICT"
    assert schema["table w"] == "table WITHOUT ROWID"
    assert schema["column w.k"] == "TEXT NOT NULL PRIMARY KEY"  # SQLite enforces NOT NULL here


def test_names_beyond_ascii_and_literals_are_read_as_sqlite_reads_them(conn: sqlite3.Connection) -> None:
    """The describer reads CREATE statements with the one lexer: ``prix€`` is one name, as SQLite reads it."""
    conn.executescript(
        """
        CREATE TABLE m (
            prix€ TEXT COLLATE NOCASE CHECK (prix€ <> 'x''y' AND length(prix€)>=1.5e-3 OR prix€ == x'0aFf'),
            n INTEGER DEFAULT -.5 -- a comment: CHECK (n > 0)
        );
        """
    )
    schema = describe_sqlite_schema(conn)
    assert schema['column m."prix€"'] == "TEXT COLLATE NOCASE"
    assert schema["check m: prix€ != 'x''y' AND length(prix€) >= 1.5e-3 OR prix€ = X'0AFF'"]
    assert schema["column m.n"] == "INTEGER DEFAULT -.5"
    assert not any("n > 0" in key for key in schema)


def test_views_and_triggers_are_normalized_statements(conn: sqlite3.Connection) -> None:
    conn.executescript(
        """
        CREATE TABLE t (a INTEGER);
        create view if not exists v as select a   from t -- note
            where a>0;
        create trigger tr instead of insert on v begin insert into t(a) values (new.a); end;
        """
    )
    schema = describe_sqlite_schema(conn)
    assert schema["view v"] == "CREATE VIEW v AS SELECT a FROM t WHERE a > 0"
    assert schema["trigger tr"] == (
        "CREATE TRIGGER tr INSTEAD OF INSERT ON v BEGIN INSERT INTO t(a) VALUES (new.a); END"
    )
    assert owning_object("trigger tr", schema["trigger tr"]) == "view v"


def test_owning_object() -> None:
    assert owning_object("table t", "table") == "table t"
    assert owning_object('column "my table".x', "TEXT") == 'table "my table"'
    assert owning_object("check t: a > 0", "check") == "table t"
    assert owning_object("unique t (a, b)", "unique") == "table t"
    assert owning_object("foreign key t (a)", "REFERENCES p (id)") == "table t"
    assert owning_object("index i", "ON t (a)") == "table t"
    assert owning_object("trigger tr", "CREATE TRIGGER tr AFTER UPDATE OF a ON t BEGIN SELECT 1; END") == "table t"
    assert owning_object("sequence s", "x") is None


def test_odd_names_are_quoted_in_keys(conn: sqlite3.Connection) -> None:
    conn.execute('CREATE TABLE "my.table" ("a b" TEXT, c INTEGER, UNIQUE ("a b", c))')
    schema = describe_sqlite_schema(conn)
    assert set(schema) == {
        'table "my.table"',
        'column "my.table"."a b"',
        'column "my.table".c',
        'unique "my.table" ("a b", c)',
    }
    assert {owning_object(k, v) for k, v in schema.items()} == {'table "my.table"'}


# -- comparing descriptions ------------------------------------------------------------------


def test_compare_schemas_is_pure_and_collapses_a_missing_table() -> None:
    expected = {
        "table a": "table",
        "column a.x": "TEXT",
        "index a_x": "ON a (x)",
        "table b": "table",
        "column b.y": "INTEGER",
    }
    live = {"table b": "table", "column b.y": "TEXT", "column b.z": "TEXT", "table c": "table", "column c.q": "TEXT"}
    report = compare_schemas(expected, live)
    assert report.differences == (
        SchemaDifference("missing", "table a", "table", None),
        SchemaDifference("differs", "column b.y", "INTEGER", "TEXT"),
        SchemaDifference("unexpected", "column b.z", None, "TEXT"),
    )
    assert report.unmanaged == ("table c",)


def test_compare_schemas_treats_unknown_keys_as_unexpected() -> None:
    report = compare_schemas({"table a": "table"}, {"table a": "table", "policy p": "on a"})
    assert [(d.kind, d.key) for d in report.differences] == [("unexpected", "policy p")]


def test_compare_schemas_takes_another_owner_function() -> None:
    report = compare_schemas(
        {"table a": "table"}, {"table a": "table", "policy p": "on a"}, owner=lambda key, _: "table a"
    )
    assert [(d.kind, d.key) for d in report.differences] == [("unexpected", "policy p")]
    report = compare_schemas(
        {"table a": "table"}, {"table a": "table", "policy p": "on b"}, owner=lambda key, value: f"table {value[3:]}"
    )
    assert report.differences == () and report.unmanaged == ("table b",)


def test_migration_that_cannot_be_replayed_names_itself(db_path: Path, agent_package) -> None:
    package = agent_package({"V20__alter_app": "ALTER TABLE app_table ADD COLUMN x TEXT;"})
    applied = merge(registry_of(alters=package).requested_sets(["alters"]))
    with pytest.raises(SchemaReplayError) as raised:
        expected_sqlite_schema(applied)
    error = raised.value
    assert (error.version, error.name, error.agent, error.statement_index) == (20, "alter_app", "alters", 0)
    assert "no such table: app_table" in str(error) and "V20__alter_app" in str(error)
