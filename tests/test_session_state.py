"""A migration never leaves the connection's session changed for the runner or the caller.

The classifier is tested alone first; then, on a real SQLite file, the
private PostgreSQL server and the private MariaDB server: every kind of
statement whose session change would outlive the migration (another
search_path, role, current database, pragma, attached database, temporary
table...) is refused before anything of the run is applied, in migrations,
rollbacks, dry runs, verify's replay and the console script; what is
harmless (``SET LOCAL``, pragma reads, MySQL user variables) is applied;
and MySQL session variables a migration assigns (``FOREIGN_KEY_CHECKS``,
``sql_mode``, ``SET NAMES``, mysqldump's header) apply to that migration
only: the next migration and the caller's connection see the caller's
values again, also after a failure, for a counted few statements more.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from conftest import registry_of
from fresh_database import fresh_database_url
from test_transaction_control import FIRST, Target, assert_a_run_is_refused_before_anything_is_applied, target  # noqa: F401  (the fixture, one database per dialect)

from nocodo_agents import MigrationFailedError, SessionStateError
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import record_as_applied, rollback_migrations, verify_database
from nocodo_agents.runner import run_agent_migrations
from nocodo_agents.schema.session_state import find_session_change, session_variables

# -- the classifier alone -----------------------------------------------------------------------

REFUSED = [
    ("postgresql", "SET search_path = other, public", "pg_set"),
    ("postgresql", "SET SESSION search_path TO other", "pg_set"),
    ("postgresql", "set schema 'other'", "pg_set"),
    ("postgresql", "SET TIME ZONE 'UTC'", "pg_set"),
    ("postgresql", "SET statement_timeout = 0", "pg_set"),
    ("postgresql", "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "pg_set"),
    ("postgresql", "SET ROLE admin", "pg_role"),
    ("postgresql", "SET SESSION AUTHORIZATION admin", "pg_role"),
    ("postgresql", "RESET ALL", "pg_reset"),
    ("postgresql", "RESET search_path", "pg_reset"),
    ("postgresql", "DISCARD ALL", "pg_discard"),
    ("postgresql", "DISCARD TEMP", "pg_discard"),
    ("postgresql", "LISTEN jobs", "pg_listen"),
    ("postgresql", "PREPARE q AS SELECT 1", "pg_prepare"),
    ("postgresql", "DEALLOCATE ALL", "pg_prepare"),
    ("postgresql", "SELECT set_config('search_path', 'other', false)", "pg_set_config"),
    ("postgresql", "SELECT pg_catalog.set_config('role', 'x', coalesce(NULL, false))", "pg_set_config"),
    ("postgresql", "DO $$ BEGIN PERFORM set_config('search_path', 'x', false); END $$", "pg_set_config"),
    ("mysql", "USE other_db", "mysql_use"),
    ("mysql", "/*!40000 USE `other_db` */", "mysql_use"),
    ("mysql", "SET ROLE ALL", "mysql_role"),
    ("mysql", "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE", "mysql_session_transaction"),
    ("mysql", "SET LOCAL TRANSACTION READ ONLY", "mysql_session_transaction"),
    ("mysql", "SET timestamp = 1", "mysql_unrestorable"),
    ("mysql", "SET @a = 1, @@SESSION.insert_id = 5", "mysql_unrestorable"),
    ("sqlite", "PRAGMA recursive_triggers = ON", "sqlite_pragma"),
    ("sqlite", "PRAGMA legacy_alter_table = 1", "sqlite_pragma"),
    ("sqlite", "PRAGMA main.journal_mode = MEMORY", "sqlite_pragma"),
    ("sqlite", 'PRAGMA "main".journal_mode = MEMORY', "sqlite_pragma"),  # a quoted qualifier was read as the name
    ("sqlite", 'PRAGMA main."journal_mode" = MEMORY', "sqlite_pragma"),
    ("sqlite", "PRAGMA synchronous(OFF)", "sqlite_pragma"),
    ("sqlite", "PRAGMA busy_timeout = 5", "sqlite_pragma"),
    ("sqlite", "PRAGMA query_only = 1", "sqlite_pragma"),
    ("sqlite", "ATTACH DATABASE 'other.db' AS other", "sqlite_attach"),
    ("sqlite", "DETACH other", "sqlite_attach"),
    ("sqlite", "CREATE TEMP TABLE scratch (id INT)", "temp_object"),
    ("sqlite", "CREATE TABLE temp.scratch (id INT)", "temp_object"),
    ("sqlite", 'CREATE TABLE "temp".scratch (id INT)', "temp_object"),  # a quoted temp schema was not seen
    ("postgresql", 'CREATE TABLE "pg_temp".scratch (id INT)', "temp_object"),
    ("sqlite", "CREATE TEMPORARY VIEW v AS SELECT 1", "temp_object"),
    ("postgresql", "CREATE TEMP TABLE scratch (id INT)", "temp_object"),
    ("postgresql", "CREATE GLOBAL TEMPORARY TABLE IF NOT EXISTS scratch (id INT)", "temp_object"),
    ("mysql", "CREATE TEMPORARY TABLE scratch (id INT)", "temp_object"),
]

ALLOWED = [
    ("postgresql", "SET LOCAL search_path = other"),
    ("postgresql", "SET LOCAL ROLE admin"),
    ("postgresql", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
    ("postgresql", "SET CONSTRAINTS ALL DEFERRED"),
    ("postgresql", "SELECT set_config('statement_timeout', '5s', true)"),
    ("postgresql", "CREATE FUNCTION f() RETURNS TEXT LANGUAGE SQL AS $$ SELECT set_config('a.b', 'c', false) $$"),
    ("postgresql", "UPDATE t SET x = 1"),
    ("postgresql", "CREATE TEMP TABLE scratch (id INT) ON COMMIT DROP"),
    ("postgresql", "ALTER TABLE t ALTER COLUMN c SET DEFAULT 1"),
    ("mysql", "SET @note = 'USE other'"),
    ("mysql", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
    ("mysql", "SET GLOBAL log_bin_trust_function_creators = 1"),
    ("mysql", "SET STATEMENT max_statement_time = 10 FOR SELECT 1"),
    ("mysql", "SET FOREIGN_KEY_CHECKS = 0"),
    ("mysql", "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */"),
    ("mysql", "SET NAMES utf8mb4"),
    ("mysql", "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET NEW.n = 1"),
    ("sqlite", "PRAGMA foreign_keys = OFF"),
    ("sqlite", "PRAGMA foreign_key_check"),
    ("sqlite", "PRAGMA table_info(t)"),
    ("sqlite", "PRAGMA main.index_list('t')"),
    ("sqlite", "PRAGMA integrity_check(10)"),
    ("sqlite", "PRAGMA user_version = 7"),
    ("sqlite", "PRAGMA defer_foreign_keys = ON"),
    ("sqlite", "PRAGMA journal_mode"),
    ("sqlite", "INSERT INTO log VALUES ('PRAGMA foreign_keys = 1')"),
]


@pytest.mark.parametrize("dialect,statement,kind", REFUSED)
def test_lasting_session_changes_are_recognised(dialect: str, statement: str, kind: str) -> None:
    found = find_session_change(["SELECT 1", statement], dialect)
    assert found is not None and (found.index, found.kind) == (1, kind)
    assert found.reason and found.advice


@pytest.mark.parametrize("dialect,statement", ALLOWED)
def test_harmless_or_restorable_statements_are_allowed(dialect: str, statement: str) -> None:
    assert find_session_change([statement], dialect) is None


def test_temporary_objects_the_migration_drops_itself_are_allowed() -> None:
    assert find_session_change(["CREATE TEMP TABLE a (id INT)", "CREATE TEMP VIEW b AS SELECT 1", "DROP VIEW b", "DROP TABLE IF EXISTS temp.a"], "sqlite") is None
    assert find_session_change(["CREATE TEMPORARY TABLE a (id INT)", "DROP TEMPORARY TABLE a"], "mysql") is None
    assert find_session_change(['CREATE TEMP TABLE "A" (id INT)', "CREATE TEMP TABLE b (id INT)", 'DROP TABLE "A", b CASCADE'], "postgresql") is None
    left = find_session_change(["CREATE TEMP TABLE a (id INT)", "CREATE TEMP TABLE b (id INT)", "DROP TABLE b"], "sqlite")
    assert left is not None and (left.index, left.kind, left.subject) == (0, "temp_object", "a")
    case = find_session_change(['CREATE TEMP TABLE "A" (id INT)', "DROP TABLE a"], "postgresql")
    assert case is not None and case.subject == "A", "a quoted name is compared exactly"
    quoted = ['CREATE TABLE "temp"."B" (id INT)', 'DROP TABLE temp."B"', "CREATE TEMP TABLE c (id INT)", 'DROP TABLE "temp".c']
    assert find_session_change(quoted, "sqlite") is None, "a name's parts are read however each is quoted"
    other = find_session_change(["CREATE TEMP TABLE d (id INT)", "DROP TABLE main.d"], "sqlite")
    assert other is not None and other.subject == "d", "main.d is another table"


def test_sqlite_foreign_keys_pragma_is_refused_only_where_it_would_apply() -> None:
    assert find_session_change(["PRAGMA foreign_keys = OFF"], "sqlite", transactional=True) is None
    outside = find_session_change(["VACUUM", "PRAGMA foreign_keys = ON"], "sqlite", transactional=False)
    assert outside is not None and (outside.index, outside.kind) == (1, "sqlite_foreign_keys_outside")


def test_the_mysql_session_variables_a_statement_assigns() -> None:
    assert session_variables("SET FOREIGN_KEY_CHECKS = 0", "mysql") == ("foreign_key_checks",)
    assert session_variables("/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */", "mysql") == ("unique_checks",)
    assert session_variables("SET @@SESSION.sql_mode = CONCAT(@@sql_mode, ',X'), @a = 1, GLOBAL max_connections = 5", "mysql") == ("sql_mode",)
    assert session_variables("SET LOCAL time_zone := '+00:00', @@local.sql_notes = 0", "mysql") == ("time_zone", "sql_notes")
    assert session_variables("SET NAMES latin1", "mysql") == (
        "character_set_client", "character_set_connection", "character_set_results", "collation_connection",
    )
    assert session_variables("SET CHARACTER SET utf8mb4", "mysql")[0] == "character_set_client"
    assert session_variables("SET sql_mode = '', NAMES latin1 COLLATE latin1_bin", "mysql")[:2] == ("sql_mode", "character_set_client")
    for none in ("SET @x = 1", "SET GLOBAL sql_mode = ''", "SET @@GLOBAL.sql_mode = ''", "SELECT 1", "SET TRANSACTION READ ONLY"):
        assert session_variables(none, "mysql") == (), none
    assert session_variables("SET search_path = x", "postgresql") == ()


# -- on real databases: refused before anything is applied -----------------------------------------

ALL = ["sqlite", "postgresql", "mysql"]

CHANGES = {
    "sqlite": [
        "PRAGMA recursive_triggers = ON", "PRAGMA legacy_alter_table = ON", "PRAGMA query_only = 1", "PRAGMA busy_timeout = 5",
        "PRAGMA journal_mode = MEMORY", "PRAGMA synchronous = OFF", "PRAGMA cache_size = 10", "ATTACH DATABASE ':memory:' AS tc_other",
        "CREATE TEMP TABLE tc_temp (id INT)", 'PRAGMA "main".journal_mode = MEMORY', 'CREATE TABLE "temp".tc_temp (id INT)',
    ],
    "postgresql": [
        "SET search_path = pg_catalog", "SET SCHEMA 'pg_catalog'", "SET ROLE NONE", "SET SESSION AUTHORIZATION DEFAULT", "RESET ALL",
        "DISCARD PLANS", "SELECT set_config('search_path', 'pg_catalog', false)", "LISTEN tc_channel", "PREPARE tc_q AS SELECT 1",
        "SET statement_timeout = '1min'", "CREATE TEMP TABLE tc_temp (id INT)", 'CREATE TABLE "pg_temp".tc_temp (id INT)',
    ],
    "mysql": [
        "USE mysql", "SET ROLE NONE", "SET SESSION TRANSACTION READ ONLY", "SET timestamp = 1", "CREATE TEMPORARY TABLE tc_temp (id INT)",
    ],
}


@pytest.mark.parametrize("target,statement", [(d, s) for d in ALL for s in CHANGES[d]], indirect=["target"])
def test_a_run_changing_the_session_for_good_is_refused_before_anything_is_applied(target: Target, statement: str, agent_package) -> None:
    assert_a_run_is_refused_before_anything_is_applied(
        target, agent_package, statement, SessionStateError, lambda error: ("changes the connection's session state", error.advice)
    )


ROLLBACK_CHANGE = {"sqlite": "PRAGMA recursive_triggers = ON", "postgresql": "SET search_path = pg_catalog", "mysql": "USE mysql"}


@pytest.mark.parametrize("target", ALL, indirect=True)
def test_a_rollback_changing_the_session_for_good_is_refused_before_anything_is_undone(target: Target, agent_package) -> None:
    conn = target.connect()
    rollback = f"{ROLLBACK_CHANGE[target.dialect]};\nDROP TABLE tc_first;"
    bad = agent_package({"V100__first": f"def migration():\n    return {FIRST!r}\n\n\ndef rollback():\n    return {rollback!r}\n"})
    run_agent_migrations(conn, registry=registry_of(tc=bad))
    before = target.snapshot()
    for dry_run in (True, False):
        with pytest.raises(SessionStateError) as raised:
            rollback_migrations(conn, 3, registry=registry_of(tc=bad), dry_run=dry_run)
        assert (raised.value.version, raised.value.phase, raised.value.statement_index) == (100, "rollback", 0)
        assert "the rollback() of migration V100__first" in str(raised.value)
        assert target.snapshot() == before


@pytest.mark.parametrize("target", ALL, indirect=True)
def test_verify_refuses_to_replay_an_applied_migration_that_changes_the_session(target: Target, agent_package) -> None:
    """On MySQL the replay's USE would leave the scratch database; on PostgreSQL SET search_path its scratch schema."""
    change = {"sqlite": "ATTACH DATABASE ':memory:' AS tc_other", "postgresql": "SET search_path = public", "mysql": "USE mysql"}[target.dialect]
    conn = target.connect()
    registry = registry_of(tc=agent_package({"V100__escape": f"{change};\nCREATE TABLE tc_replayed (id INT);"}))
    record_as_applied(conn, registry=registry)  # recorded without running, as an older release may have applied it
    before = target.snapshot()
    with pytest.raises(SessionStateError) as raised:
        verify_database(conn, registry=registry)
    assert raised.value.version == 100 and "repair_history(conn)" in str(raised.value)
    assert "`nocodo-agents repair` after fixing the file" in hint_for(raised.value)
    assert target.snapshot() == before


@pytest.mark.parametrize("target", ["sqlite", "postgresql"], indirect=True)
def test_a_non_transactional_migration_may_not_change_the_session_either(target: Target, agent_package) -> None:
    statement = {"sqlite": "PRAGMA foreign_keys = ON", "postgresql": "SET maintenance_work_mem = '64MB'"}[target.dialect]
    conn = target.connect()
    run_agent_migrations(conn, registry=AgentRegistry([]))
    before = target.snapshot()
    sql = f"{statement};\nCREATE TABLE tc_outside (id INT);"
    registry = registry_of(tc=agent_package({"V100__outside": f"def migration():\n    return {sql!r}\n\ntransactional = False\n"}))
    with pytest.raises(SessionStateError) as raised:
        run_agent_migrations(conn, registry=registry)
    assert raised.value.statement_index == 0
    assert target.snapshot() == before


# -- on real databases: allowed statements apply, and the caller's session is as before -----------


def _sqlite_state(conn: sqlite3.Connection) -> dict[str, Any]:
    pragmas = ("foreign_keys", "recursive_triggers", "legacy_alter_table", "defer_foreign_keys", "busy_timeout", "query_only", "synchronous")
    state: dict[str, Any] = {name: conn.execute(f"PRAGMA {name}").fetchone()[0] for name in pragmas}
    state["databases"] = [row[1] for row in conn.execute("PRAGMA database_list") if row[1] != "temp"]  # listed once used
    state["temp"] = conn.execute("SELECT name FROM temp.sqlite_master").fetchall()
    return state


@pytest.mark.parametrize("caller_foreign_keys", [0, 1])
def test_sqlite_pragma_reads_and_file_settings_apply_and_the_callers_pragmas_stay(tmp_path: Path, caller_foreign_keys: int, agent_package) -> None:
    conn = sqlite3.connect(tmp_path / "state.sqlite")
    conn.execute(f"PRAGMA foreign_keys = {caller_foreign_keys}")
    conn.execute("PRAGMA busy_timeout = 1234")
    before = _sqlite_state(conn)
    sql = (
        "PRAGMA foreign_keys = OFF;\nCREATE TABLE tc_parent (id INTEGER PRIMARY KEY);\nPRAGMA table_info(tc_parent);\n"
        "PRAGMA foreign_key_check;\nPRAGMA defer_foreign_keys = ON;\nPRAGMA user_version = 7;\n"
        "CREATE TEMP TABLE tc_scratch AS SELECT 1 AS id;\nINSERT INTO tc_parent SELECT id FROM tc_scratch;\nDROP TABLE tc_scratch;\n"
        "PRAGMA foreign_keys = ON;"
    )
    report = run_agent_migrations(conn, registry=registry_of(tc=agent_package({"V100__pragmas": sql})))
    assert report.versions == (1, 2, 3, 100)
    assert conn.execute("SELECT id FROM tc_parent").fetchall() == [(1,)]
    assert conn.execute("PRAGMA user_version").fetchone() == (7,)
    assert _sqlite_state(conn) == before
    conn.close()


def _postgresql_state(conn: Any) -> tuple[Any, ...]:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('search_path'), current_user, session_user, current_setting('statement_timeout'), "
            "current_setting('TimeZone'), (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()), "
            "(SELECT count(*) FROM pg_prepared_statements), (SELECT count(*) FROM pg_listening_channels())"
        )
        row = cursor.fetchone()
    conn.rollback()
    return tuple(row)


@pytest.mark.parametrize("target", ["postgresql"], indirect=True)
def test_postgresql_set_local_applies_to_its_migration_only_and_the_callers_session_stays(target: Target, agent_package) -> None:
    conn = target.connect()
    with conn.cursor() as cursor:
        cursor.execute("SET statement_timeout = '42s'")
    conn.commit()
    before = _postgresql_state(conn)
    local = (
        "CREATE SCHEMA tc_other;\nSET LOCAL search_path = tc_other;\nCREATE TABLE tc_local (id INT);\n"
        "SELECT set_config('statement_timeout', '5s', true);\nSET LOCAL TIME ZONE 'Pacific/Chatham';\n"
        "SET CONSTRAINTS ALL DEFERRED;\nCREATE TEMP TABLE tc_scratch (id INT) ON COMMIT DROP;\nINSERT INTO tc_scratch VALUES (1);"
    )
    registry = registry_of(tc=agent_package({"V100__local": local, "V101__plain": "CREATE TABLE tc_plain (id INT);"}))
    assert run_agent_migrations(conn, registry=registry).versions == (1, 2, 3, 100, 101)
    placed = target.rows("SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE 'tc_%' ORDER BY 2")
    assert placed == [("tc_other", "tc_local"), ("public", "tc_plain")], "SET LOCAL held for V100 only"
    assert _postgresql_state(conn) == before
    assert "refinery_schema_history" in target.tables(), "history stayed where the caller's search_path puts it"


def _mysql_state(conn: Any) -> tuple[Any, ...]:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT @@SESSION.foreign_key_checks, @@SESSION.unique_checks, @@SESSION.sql_mode, @@SESSION.time_zone, "
            "@@SESSION.character_set_client, @@SESSION.character_set_results, @@SESSION.collation_connection, "
            "@@SESSION.sql_notes, DATABASE(), @nocodo_agents_saved_0, @nocodo_agents_saved_1"
        )
        return tuple(cursor.fetchone())


MYSQLDUMP = """
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES latin1 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
CREATE TABLE tc_child (id INT PRIMARY KEY, parent_id INT, FOREIGN KEY (parent_id) REFERENCES tc_parent (id)) ENGINE=InnoDB;
INSERT INTO tc_child VALUES (1, 99);
CREATE TABLE tc_parent (id INT PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO tc_parent VALUES (99);
"""
#: What a migration after it records about the session it runs in.
SEEN = (
    "CREATE TABLE tc_seen (fk INT, uc INT, mode VARCHAR(500), tz VARCHAR(64), cs VARCHAR(64));\n"
    "INSERT INTO tc_seen SELECT @@SESSION.foreign_key_checks, @@SESSION.unique_checks, @@SESSION.sql_mode, "
    "@@SESSION.time_zone, @@SESSION.character_set_client;"
)


@pytest.mark.parametrize("target", ["mysql"], indirect=True)
def test_mysql_session_variables_apply_to_their_migration_only_and_the_callers_session_stays(target: Target, agent_package) -> None:
    """mysqldump's header without its footer: the child row goes in before its parent, and nothing leaks."""
    conn = target.connect()
    with conn.cursor() as cursor:
        cursor.execute("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,ONLY_FULL_GROUP_BY', time_zone = '+02:00'")
    before = _mysql_state(conn)
    registry = registry_of(tc=agent_package({"V100__dump": MYSQLDUMP, "V101__seen": SEEN}))
    assert run_agent_migrations(conn, registry=registry).versions == (1, 2, 3, 100, 101)
    assert target.rows("SELECT id, parent_id FROM tc_child") == [(1, 99)], "FOREIGN_KEY_CHECKS = 0 held inside V100"
    seen = target.rows("SELECT fk, uc, mode, tz, cs FROM tc_seen")
    from nocodo_agents.dialects.mysql import migration_sql_mode

    # V101 ran with the caller's settings, its sql_mode made the runner's (strict, read the usual way)
    assert seen == [(before[0], before[1], migration_sql_mode(before[2]), before[3], before[4])], "V101 ran with the caller's settings"
    assert _mysql_state(conn) == before


@pytest.mark.parametrize("target", ["mysql"], indirect=True)
def test_mysql_session_variables_are_restored_when_the_migration_fails(target: Target, agent_package) -> None:
    conn = target.connect()
    before = _mysql_state(conn)
    failing = "SET FOREIGN_KEY_CHECKS = 0;\nSET sql_mode = '', NAMES latin1;\nCREATE TABLE tc_a (id INT);\nINSERT INTO tc_missing VALUES (1);"
    with pytest.raises(MigrationFailedError) as raised:
        run_agent_migrations(conn, registry=registry_of(tc=agent_package({"V100__failing": failing})))
    assert raised.value.statement_index == 3
    assert _mysql_state(conn) == before


@pytest.mark.parametrize("target", ["mysql"], indirect=True)
def test_mysql_session_variables_cost_one_statement_per_new_set_and_one_restore(target: Target, agent_package) -> None:
    conn = target.connect()
    run_agent_migrations(conn, registry=AgentRegistry([]))
    plain = "SET @u = 0;\nSET @u = 1;\nCREATE TABLE tc_a (id INT);\nINSERT INTO tc_a VALUES (1);\nSET @u = 2;"
    setting = "SET FOREIGN_KEY_CHECKS = 0;\nSET sql_mode = '';\nCREATE TABLE tc_b (id INT);\nINSERT INTO tc_b VALUES (1);\nSET FOREIGN_KEY_CHECKS = 1;"
    first = run_agent_migrations(conn, registry=registry_of(tc=agent_package({"V100__plain": plain})))
    second = run_agent_migrations(conn, registry=registry_of(tc=agent_package({"V100__plain": plain, "V101__setting": setting})))
    assert (first.versions, second.versions) == ((100,), (101,))
    assert second.statements - first.statements == 3, "two saves (foreign_key_checks, sql_mode) and one restore"


@pytest.mark.parametrize("target", ["mysql"], indirect=True)
def test_an_unknown_session_variable_fails_as_its_own_statement(target: Target, agent_package) -> None:
    conn = target.connect()
    run_agent_migrations(conn, registry=AgentRegistry([]))
    sql = "CREATE TABLE tc_a (id INT);\nSET tc_no_such_variable = 1;"
    with pytest.raises(MigrationFailedError) as raised:
        run_agent_migrations(conn, registry=registry_of(tc=agent_package({"V100__unknown": sql})))
    assert raised.value.statement_index == 1 and raised.value.statement.startswith("SET tc_no_such_variable")
    assert "tc_no_such_variable" in str(raised.value)


@pytest.mark.parametrize("target", ["mysql"], indirect=True)
def test_a_variable_without_a_session_value_is_left_to_its_statement(target: Target, agent_package) -> None:
    """Nothing to save for it: the statement fails (or succeeds) on its own, with the server's own message."""
    conn = target.connect()
    run_agent_migrations(conn, registry=AgentRegistry([]))
    before = _mysql_state(conn)
    sql = "CREATE TABLE tc_a (id INT);\nSET FOREIGN_KEY_CHECKS = 0, max_connections = @@GLOBAL.max_connections;"
    with pytest.raises(MigrationFailedError) as raised:
        run_agent_migrations(conn, registry=registry_of(tc=agent_package({"V100__global": sql})))
    assert raised.value.statement_index == 1 and "should be set with SET GLOBAL" in str(raised.value)
    assert _mysql_state(conn) == before


@pytest.mark.parametrize("target", ["mysql"], indirect=True)
def test_verify_replays_session_variables_without_leaving_them_on_the_callers_session(target: Target, agent_package) -> None:
    conn = target.connect()
    registry = registry_of(tc=agent_package({"V100__dump": MYSQLDUMP}))
    run_agent_migrations(conn, registry=registry)
    before = _mysql_state(conn)
    assert verify_database(conn, registry=registry).ok
    assert _mysql_state(conn) == before


# -- the console script -----------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.with_empty_site(tmp_path)


@pytest.fixture(params=ALL)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database_url(request, tmp_path, "ss_cli")


def test_the_command_line_refuses_a_session_change_before_applying_anything(cli: Cli, url: str) -> None:
    change = {"sqlite": "ATTACH DATABASE ':memory:' AS tc_other", "postgresql": "SET search_path = pg_catalog", "mysql": "USE mysql"}
    bad = f"CREATE TABLE tc_a (id INT);\n{change[url.split(':')[0]]};\n"
    write_agent_distribution(cli.site, "tc-agent", "tc", "tc_agent", {"V300__bad": sql_module(bad)})
    for dry_run in ([], ["--dry-run"]):
        refused = cli("migrate", "--agent", "tc", "--db", url, *dry_run)
        assert refused.code == 5, refused.text
        assert "V300__bad of agent 'tc' (distribution tc-agent" in refused.err and "session state: statement 2" in refused.err
        assert "None of its statements ran" in refused.err and "Traceback" not in refused.err
    status = cli("status", "--json", "--agent", "tc", "--db", url)
    assert status.code in (0, 3), status.text
    states: list[str] = [row["state"] for row in json.loads(status.out)]
    assert states == ["pending"] * 4, "not even the core migrations before it ran"
