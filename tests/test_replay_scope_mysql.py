"""MariaDB's schema replay stays in its scratch database: verify, adoption and dry runs write nothing live.

The replay runs migrations for real in a scratch database on the live
server, without a transaction (DDL commits). Statements that only change
rows are left out of it, whatever database they name; a statement that
names another database for anything it runs (``live.t`` in DDL, ``CALL
live.p()``), ``USE``, dynamic SQL and the server's administration are
refused: ``verify`` raises :class:`SchemaReplayError` naming the migration,
the statement and the database, adoption counts the footprint unknown. The
live tables' rows and schema are compared before and after.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import registry_of
from test_adoption_servers import ServerDatabase

from nocodo_agents import AdoptionAmbiguousError, SchemaReplayError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import verify_database
from nocodo_agents.schema.mysql_replay_scope import RUN, SKIP, ReplayRefused, ReplayScope

_names = itertools.count()

PALETTE = "CREATE TABLE palette (id INT AUTO_INCREMENT PRIMARY KEY, hue VARCHAR(40) NOT NULL) ENGINE=InnoDB;"

#: Data statements naming the live database: left out of the replay. ``{db}`` is the live database.
DATA = [
    pytest.param("INSERT INTO `{db}`.`palette` (hue) VALUES ('red');", id="insert"),
    pytest.param("REPLACE INTO {db}.palette (id, hue) VALUES (7, 'teal');", id="replace"),
    pytest.param("UPDATE `{db}`.palette SET hue = CONCAT(hue, '!');", id="update"),
    pytest.param("DELETE FROM {db}.palette WHERE hue <> 'never';", id="delete"),
    pytest.param("/*!40000 INSERT INTO `{db}`.palette (hue) VALUES ('exec') */;", id="executable-comment"),
]

#: DDL (and CALL) naming the live database: refused. Each applies on a fresh database (the real run).
DDL = [
    pytest.param("CREATE TABLE `{db}`.`extra` (id INT);", id="create-table"),
    pytest.param("ALTER TABLE {db}.palette ADD COLUMN shade INT;", id="alter-table"),
    pytest.param("CREATE INDEX palette_hue ON `{db}`.palette (hue);", id="create-index"),
    pytest.param("DROP TABLE IF EXISTS {db}.keep;", id="drop-table"),
    pytest.param("CREATE TRIGGER palette_up BEFORE INSERT ON {db}.palette FOR EACH ROW SET NEW.hue = UPPER(NEW.hue);", id="trigger"),
    pytest.param("CREATE VIEW `{db}`.hues AS SELECT hue FROM palette;", id="view"),
    pytest.param("CREATE TABLE copy AS SELECT * FROM `{db}`.palette;", id="create-select"),
    pytest.param(
        "CREATE PROCEDURE add_hue() BEGIN INSERT INTO palette (hue) VALUES ('called'); END;\nCALL `{db}`.add_hue();", id="call"
    ),
]


@pytest.fixture
def live(mariadb_server) -> Iterator[ServerDatabase]:
    name = f"replay_scope_{next(_names)}"
    mariadb_server.create_database(name)
    conn = mariadb_server.connect(name)
    db = ServerDatabase("mysql", conn, mariadb_server.url(name))
    db.name = name  # type: ignore[attr-defined]
    try:
        yield db
    finally:
        conn.close()


def only_mysql(sql: str) -> str:
    return f"from nocodo_agents.plugins import dialect_sql\nmigration = dialect_sql(mysql={sql!r})\n"


def snapshot(db: ServerDatabase) -> dict[str, Any]:
    """Every table's definition and rows, the triggers and routines of the live database; scratch databases left."""
    state: dict[str, Any] = {}
    for table in sorted(db.tables()):
        state[f"schema {table}"] = db.rows(f"SHOW CREATE TABLE `{table}`")
        if table != "refinery_schema_history":
            state[f"rows {table}"] = sorted(db.rows(f"SELECT * FROM `{table}`"), key=repr)
        else:
            state["history"] = db.rows("SELECT version, checksum FROM refinery_schema_history ORDER BY version")
    state["triggers"] = db.rows("SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()")
    state["routines"] = db.rows("SELECT routine_name FROM information_schema.routines WHERE routine_schema = DATABASE()")
    state["scratch"] = db.rows("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'nocodo\\_scratch%'")
    return state


def agent(agent_package, db: ServerDatabase, statement: str) -> str:
    sql = statement.replace("{db}", db.name)  # type: ignore[attr-defined]
    return agent_package({"V100__palette": only_mysql(PALETTE), "V101__qualified": only_mysql(sql)})


@pytest.mark.parametrize("statement", DATA)
def test_verify_leaves_out_data_statements_naming_the_live_database(live: ServerDatabase, agent_package, statement: str) -> None:
    """Applied for real once; each verify after that changes no row (the probe's verify added one every time)."""
    registry = registry_of(palette=agent(agent_package, live, statement))
    run_agent_migrations(live.conn, registry=registry)
    live.run("INSERT INTO palette (hue) VALUES ('blue')")
    before = snapshot(live)
    for _ in range(2):
        assert verify_database(live.conn, registry=registry).ok
        assert snapshot(live) == before


@pytest.mark.parametrize("statement", DDL)
def test_verify_refuses_ddl_naming_the_live_database(live: ServerDatabase, agent_package, statement: str) -> None:
    """Applied for real once; verify names the migration, the statement and the database, and changes nothing."""
    registry = registry_of(palette=agent(agent_package, live, statement))
    run_agent_migrations(live.conn, registry=registry)
    live.run("CREATE TABLE IF NOT EXISTS keep (id INT);\nINSERT INTO palette (hue) VALUES ('blue')")
    before = snapshot(live)
    with pytest.raises(SchemaReplayError) as raised:
        verify_database(live.conn, registry=registry)
    error = raised.value
    assert error.version == 101 and f"`{live.name}`" in str(error)  # type: ignore[attr-defined]
    assert isinstance(error.cause, ReplayRefused) and "names the database" in str(error)
    assert "V101__qualified" in str(error) and "The live database was not touched" in str(error)
    assert snapshot(live) == before


@pytest.mark.parametrize("statement", DATA + DDL)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "migrate"])
def test_adoption_replays_nothing_into_the_live_database(live: ServerDatabase, agent_package, statement: str, dry_run: bool) -> None:
    """A history-less database holding V100's table: V101's footprint is its text's (data) or unknown (refused DDL)."""
    live.run(PALETTE + "\nCREATE TABLE keep (id INT);\nINSERT INTO palette (hue) VALUES ('blue');\nINSERT INTO keep VALUES (1);")
    registry = registry_of(palette=agent(agent_package, live, statement))
    before = snapshot(live)
    with pytest.raises(AdoptionAmbiguousError) as raised:
        run_agent_migrations(live.conn, registry=registry, dry_run=dry_run)
    assert raised.value.version == 101 and 100 in raised.value.adopted
    assert snapshot(live) == before


def test_a_dry_run_on_a_fresh_database_replays_nothing_into_another(live: ServerDatabase, mariadb_server, agent_package) -> None:
    """The qualified name is another database on the server: adoption of this one never reaches it."""
    other = f"replay_scope_other_{next(_names)}"
    mariadb_server.create_database(other)
    neighbour = ServerDatabase("mysql", mariadb_server.connect(other), mariadb_server.url(other))
    try:
        neighbour.run(PALETTE + "\nINSERT INTO palette (hue) VALUES ('theirs');")
        live.run(PALETTE)
        sql = f"INSERT INTO `{other}`.palette (hue) VALUES ('red');\nDROP TABLE IF EXISTS `{other}`.palette;"
        registry = registry_of(palette=agent_package({"V100__palette": only_mysql(PALETTE), "V101__other": only_mysql(sql)}))
        before = snapshot(neighbour)
        with pytest.raises(AdoptionAmbiguousError):
            run_agent_migrations(live.conn, registry=registry, dry_run=True)
        assert snapshot(neighbour) == before
    finally:
        neighbour.conn.close()


# -- the scope, statement by statement (no server: which statements run, are left out, are refused) -----------

SCOPE = ReplayScope("nocodo_scratch_x", lambda: frozenset({"live", "mysql", "information_schema", "nocodo_scratch_x"}))


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE t (id INT) COMMENT 'live.t'",
        "-- ALTER TABLE live.t\nCREATE TABLE t (id INT)",
        "CREATE VIEW v AS SELECT t.id FROM t",
        "CREATE TABLE `live.t` (id INT)",
        "SET @x = 1.5",
        "SET FOREIGN_KEY_CHECKS = 0",
        "ALTER DATABASE CHARACTER SET utf8mb4",
        "SELECT table_name FROM information_schema.tables",
        "CREATE TABLE t (s VARCHAR(9) DEFAULT 'a\\'')",
        "CREATE TRIGGER g BEFORE INSERT ON t FOR EACH ROW SET NEW.x = OLD.x",
    ],
)
def test_statements_that_stay_in_the_scratch_run(statement: str) -> None:
    assert SCOPE.action(statement) == RUN


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO live.t VALUES (1)", "UPDATE live.t SET x = 1", "DELETE FROM `live`.t", "REPLACE INTO live.t VALUES (1)",
        "LOAD DATA INFILE '/tmp/x' INTO TABLE live.t", "TRUNCATE TABLE live.t", "DO live.f()",
        "GRANT SELECT ON live.* TO someone", "REVOKE ALL ON live.* FROM someone", "CREATE USER someone",
        "CREATE OR REPLACE ROLE r", "DROP USER someone", "SET PASSWORD FOR someone = PASSWORD('x')",
    ],
)
def test_data_and_account_statements_are_left_out(statement: str) -> None:
    assert SCOPE.action(statement) == SKIP


@pytest.mark.parametrize(
    "statement, reason",
    [
        ("CREATE TABLE live.t (id INT)", "names the database `live` (live.t)"),
        ('CREATE TABLE "live".t (id INT)', "names the database `live`"),
        ("DROP TABLE t, LIVE.t2", "names the database `LIVE`"),
        ("RENAME TABLE t TO live.t", "names the database"),
        ("CREATE TABLE t LIKE live.t", "names the database"),
        ("CREATE TABLE t AS SELECT live.t.id FROM live.t", "names the database"),
        ("/*!40000 ALTER TABLE `live`.`t` DISABLE KEYS */", "names the database"),
        ("CREATE PROCEDURE p() BEGIN INSERT INTO live.t VALUES (1); END", "names the database"),
        ("CREATE TABLE mysql.x (id INT)", "names the database `mysql`"),
        ("USE live", "makes another database current"),
        ("/*!40000 USE live */", "makes another database current"),
        ("CREATE DATABASE other", "creates a database"),
        ("DROP SCHEMA IF EXISTS other", "drops a database"),
        ("ALTER DATABASE live CHARACTER SET utf8mb4", "alters a database by name"),
        ("CREATE PROCEDURE p() BEGIN PREPARE s FROM @sql; EXECUTE s; END", "runs SQL built when it runs"),
        ("EXECUTE IMMEDIATE 'DROP TABLE live.t'", "runs SQL built when it runs"),
        ("SELECT hue INTO OUTFILE '/tmp/hues' FROM t", "writes a file on the server"),
        ("SET GLOBAL event_scheduler = ON", "changes a global setting"),
        ("SET @@global.max_connections = 10", "changes a global setting"),
        ("FLUSH TABLES", "acts on the server"),
        ("CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (HOST 'h')", "acts on the server"),
        ("CREATE TABLE t (s VARCHAR(9) DEFAULT 'unterminated)", "cannot be read"),
    ],
)
def test_statements_reaching_beyond_the_scratch_are_refused(statement: str, reason: str) -> None:
    with pytest.raises(ReplayRefused) as raised:
        SCOPE.action(statement)
    assert reason in str(raised.value) and "refused, not run" in str(raised.value)


def test_the_server_is_asked_for_its_databases_only_for_a_qualified_name() -> None:
    asked: list[tuple[()]] = []
    scope = ReplayScope("nocodo_scratch_y", lambda: asked.append(()) or frozenset({"live"}))
    for statement in ("CREATE TABLE t (id INT)", "ALTER TABLE t ADD c INT", "INSERT INTO live.t VALUES (1)"):
        assert scope.action(statement) in (RUN, SKIP)
    assert asked == []
    assert scope.action("CREATE VIEW v AS SELECT t.id FROM t") == RUN
    assert scope.action("CREATE VIEW w AS SELECT t.id FROM t") == RUN
    assert len(asked) == 1
