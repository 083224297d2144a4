"""The nocodo-agents command, run as a real console script against real SQLite files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_support import Cli, sql_module, write_agent_distribution

NOTES = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"
COMMANDS = ["agents", "status", "info", "migrate", "verify", "repair", "baseline", "rollback", "resolve", "new"]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site"
    path.mkdir()
    return path


@pytest.fixture
def cli(tmp_path: Path, site: Path) -> Cli:
    return Cli.in_work_directory(tmp_path, site)


@pytest.fixture
def notes_agent(site: Path) -> None:
    write_agent_distribution(
        site, "notes-agent", "notes", "notes_agent",
        {"V100__create_notes": sql_module(NOTES, rollback="DROP TABLE notes;")},
    )


def rows(path: Path, sql: str) -> list:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def table_names(path: Path) -> set:
    return {r[0] for r in rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


# -- the command itself ---------------------------------------------------------------------------


def test_every_subcommand_has_help(cli: Cli) -> None:
    top = cli("--help")
    assert top.code == 0 and "exit codes" in top.out
    for command in COMMANDS:
        result = cli(command, "--help")
        assert result.code == 0, command
        assert f"usage: nocodo-agents {'status' if command == 'info' else command}" in result.out


def test_python_dash_m_is_the_same_command(cli: Cli) -> None:
    result = cli("--version", module=True)
    assert result.code == 0 and result.out.startswith("nocodo-agents ")


def test_usage_error_exits_2(cli: Cli) -> None:
    assert cli("migrate", "--target", "not-a-number").code == 2
    assert cli("no-such-command").code == 2
    assert cli("rollback").code == 2  # --to is required


# -- agents ---------------------------------------------------------------------------------------


def test_agents_lists_installed_and_broken_agents(cli: Cli, site: Path, notes_agent: None) -> None:
    write_agent_distribution(site, "broken-agent", "broken", "broken_agent", {}, plugin_source="import not_installed_dependency\n")
    result = cli("agents")
    assert result.code == 0
    lines = {line.split()[0]: line for line in result.out.splitlines()[1:]}
    assert "nocodo-agents" in lines["core"] and lines["core"].endswith("1, 2, 3")
    assert "nocodo-agents-requirements-qna" in lines["requirements_qna"] and lines["requirements_qna"].endswith("4")
    assert "notes-agent" in lines["notes"] and "notes_agent.plugin" in lines["notes"] and lines["notes"].endswith("100")
    assert "error:" in lines["broken"] and "not_installed_dependency" in lines["broken"]
    listed = {a["agent"]: a for a in json.loads(cli("agents", "--json").out)}
    assert listed["notes"]["migrations"] == [100] and listed["notes"]["version"] == "1.0"
    assert listed["broken"]["migrations"] is None and "broken-agent" in listed["broken"]["error"]


# -- migrate --------------------------------------------------------------------------------------


def test_migrate_default_database_in_the_current_directory(cli: Cli) -> None:
    result = cli("migrate")
    assert result.code == 0, result.text
    assert "[1/4] applied V1__create_agent_sessions (core) in" in result.out
    assert "[4/4] applied V4__create_project_requirements_qna (requirements_qna) in" in result.out
    assert " ms" in result.out
    database = cli.cwd / "nocodo-agents.db"
    assert {"agent_sessions", "project_requirements_qna", "refinery_schema_history"} <= table_names(database)
    again = cli("migrate")
    assert again.code == 0 and "up to date: nothing to apply" in again.out


def test_database_from_environment_and_url_forms(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "from-env" / "agents.sqlite"
    assert cli("migrate", "--agent", "core", env={"NOCODO_AGENTS_DB": f"sqlite:///{target}"}).code == 0
    assert len(rows(target, "SELECT * FROM refinery_schema_history")) == 3
    relative = cli("migrate", "--db", "sqlite:///rel/agents.db")
    assert relative.code == 0 and (cli.cwd / "rel" / "agents.db").exists()


def test_migrate_target_and_quiet(cli: Cli) -> None:
    result = cli("migrate", "--target", "2", "-q")
    assert result.code == 0 and result.out == ""
    assert rows(cli.cwd / "nocodo-agents.db", "SELECT version FROM refinery_schema_history") == [(1,), (2,)]


def test_verbose_logs_through_logging(cli: Cli) -> None:
    result = cli("-v", "migrate")
    assert "INFO nocodo_agents: applied V1__create_agent_sessions of agent 'core'" in result.err


def test_dry_run_prints_sql_and_history_inserts_and_changes_nothing(cli: Cli) -> None:
    result = cli("migrate", "--dry-run")
    assert result.code == 0
    out = result.out
    assert out.index("CREATE TABLE IF NOT EXISTS main.refinery_schema_history") < out.index("CREATE TABLE agent_sessions")
    assert out.index("CREATE TABLE agent_sessions") < out.index("INSERT INTO main.refinery_schema_history (version, name, applied_on, checksum, agent) VALUES (1, 'create_agent_sessions'")
    assert out.index("VALUES (1,") < out.index("CREATE TABLE agent_messages") < out.index("VALUES (4,")
    assert not (cli.cwd / "nocodo-agents.db").exists()
    cli("migrate", "--target", "3")
    partial = cli("migrate", "--dry-run").out
    assert "CREATE TABLE agent_sessions" not in partial and "CREATE TABLE project_requirements_qna" in partial
    assert "refinery_schema_history(" not in partial, "the history table exists already"


def test_fake_records_without_running(cli: Cli) -> None:
    result = cli("migrate", "--fake", "--target", "3")
    assert result.code == 0 and "recorded V3__create_agent_tool_calls (core) as applied without running it" in result.out
    database = cli.cwd / "nocodo-agents.db"
    assert "agent_sessions" not in table_names(database)
    assert [r[0] for r in rows(database, "SELECT version FROM refinery_schema_history")] == [1, 2, 3]


def test_unknown_agent(cli: Cli) -> None:
    result = cli("migrate", "--agent", "nonexistent-agent")
    assert result.code == 1
    assert "'nonexistent-agent' is not installed" in result.err and "pip install" in result.err
    assert not (cli.cwd / "nocodo-agents.db").exists() or "agent_sessions" not in table_names(cli.cwd / "nocodo-agents.db")


def test_failing_migration_exits_5_and_leaves_no_trace(cli: Cli, site: Path) -> None:
    failing = "CREATE TABLE half (id INTEGER);\nINSERT INTO half VALUES (1);\nINSERT INTO missing_table VALUES (1);\n"
    write_agent_distribution(site, "failing-agent", "failing", "failing_agent", {"V200__fails": sql_module(failing)})
    result = cli("migrate", "--agent", "failing")
    assert result.code == 5, result.text
    assert "V200__fails of agent 'failing'" in result.err and "failing-agent" in result.err
    assert "INSERT INTO missing_table" in result.err and "statement 3" in result.err
    database = cli.cwd / "nocodo-agents.db"
    assert "half" not in table_names(database)
    assert 200 not in [r[0] for r in rows(database, "SELECT version FROM refinery_schema_history")]


def test_divergent_file_exits_4(cli: Cli) -> None:
    cli("migrate", "--agent", "core")
    database = cli.cwd / "nocodo-agents.db"
    connection = sqlite3.connect(database)
    connection.execute("UPDATE refinery_schema_history SET checksum = '12345' WHERE version = 2")
    connection.commit()
    connection.close()
    result = cli("migrate")
    assert result.code == 4
    assert "V2 of agent 'core' diverges" in result.err and "edited after it was applied" in result.err
    status = cli("status", "--check")
    assert status.code == 4 and "divergent" in status.out


# -- databases that cannot be used ----------------------------------------------------------------


def test_bad_url_exits_2_and_never_shows_the_password(cli: Cli) -> None:
    result = cli("status", "--db", "mysql://root:s3cr3t-pw@localhost:99999/agents")
    assert result.code == 2 and "s3cr3t-pw" not in result.text and "***" in result.err
    assert cli("status", "--db", "mysql://root:pw@localhost").code == 2  # no database named
    unencoded = cli("status", "--db", "postgresql://app:hun/ter2@127.0.0.1:1/agents")
    assert unencoded.code == 2 and "percent-encode" in unencoded.err and "ter2" not in unencoded.text
    in_query = cli("status", "--db", "postgresql://app@127.0.0.1:1/agents?password=hunter2")
    assert in_query.code == 6 and "hunter2" not in in_query.text and "password=***" in in_query.err
    result = cli("migrate", "--db", "ftp://example.com/x")
    assert result.code == 2 and "unknown scheme 'ftp'" in result.err
    assert cli("status", "--db", "sqlite://relative.db").code == 2


def test_unreachable_database_exits_6(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "agents.db"
    result = cli("verify", "--db", f"sqlite:///{missing}")
    assert result.code == 6
    assert str(missing) in result.err and "does not exist" in result.err
    assert not missing.exists() and not missing.parent.exists(), "verify never creates a database"


def test_status_of_a_file_that_does_not_exist_yet_lists_everything_pending(cli: Cli, tmp_path: Path) -> None:
    import json

    missing = tmp_path / "no-such-dir" / "agents.db"
    url = f"sqlite:///{missing}"
    text = cli("status", "--db", url, "--agent", "requirements_qna")
    assert text.code == 0, text.text
    lines = text.out.splitlines()
    assert lines[0].split() == ["VERSION", "NAME", "AGENT", "STATE", "APPLIED", "ON"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3", "4"]
    assert all(line.split()[3] == "pending" for line in lines[1:])
    assert f"{url} does not exist yet: every migration is pending" in text.err
    check = cli("status", "--db", url, "--check")
    assert check.code == 3, check.text  # pending
    as_json = cli("status", "--db", url, "--json")
    assert as_json.code == 0
    assert [(row["version"], row["state"]) for row in json.loads(as_json.out)][:3] == [(1, "pending"), (2, "pending"), (3, "pending")]
    assert "does not exist yet" in as_json.err
    quiet = cli("-q", "status", "--db", url)
    assert quiet.code == 0 and quiet.err == "" and "pending" in quiet.out
    assert not missing.exists() and not missing.parent.exists(), "status never creates a database"


def test_read_only_database_exits_6_and_changes_nothing(cli: Cli) -> None:
    cli("migrate", "--target", "1")
    database = cli.cwd / "nocodo-agents.db"
    result = cli("migrate", "--db", f"sqlite:///{database}?mode=ro")
    assert result.code == 6, result.text
    assert "read-only" in result.err
    assert [r[0] for r in rows(database, "SELECT version FROM refinery_schema_history")] == [1]


# -- status ---------------------------------------------------------------------------------------


def test_status_table_json_and_check(cli: Cli, notes_agent: None) -> None:
    cli("migrate", "--agent", "notes")
    table = cli("status")
    assert table.code == 0
    header, *lines = table.out.strip().splitlines()
    assert header.split() == ["VERSION", "NAME", "AGENT", "STATE", "APPLIED", "ON"]
    states = {line.split()[0]: line.split()[3] for line in lines}
    assert states == {"1": "applied", "2": "applied", "3": "applied", "4": "pending", "100": "applied"}
    assert cli("status", "--check").code == 3
    listed = json.loads(cli("info", "--json").out)
    assert [r["state"] for r in listed] == ["applied", "applied", "applied", "pending", "applied"]
    assert listed[0]["applied_on"].endswith("Z") and listed[3]["applied_on"] is None
    cli("migrate")
    final = {r["version"]: r["state"] for r in json.loads(cli("status", "--json").out)}
    assert final[4] == "applied-out-of-order", "V4 was applied after V100"
    assert cli("status", "--check").code == 0


def test_status_reports_applied_but_not_installed(cli: Cli, notes_agent: None) -> None:
    cli("migrate")
    listed = {r["version"]: r for r in json.loads(cli("status", "--json", "--agent", "requirements_qna").out)}
    assert listed[100]["state"] == "applied-not-installed" and listed[100]["agent"] == "notes"


# -- verify and repair ----------------------------------------------------------------------------


def test_verify_clean_then_drifted(cli: Cli) -> None:
    cli("migrate")
    clean = cli("verify")
    assert clean.code == 0, clean.text
    assert "checksums: every applied migration matches" in clean.out and "schema: no drift" in clean.out
    database = cli.cwd / "nocodo-agents.db"
    connection = sqlite3.connect(database)
    connection.executescript(
        "ALTER TABLE agent_sessions ADD COLUMN surprise TEXT; DROP INDEX idx_agent_messages_session_created;"
        "CREATE TABLE my_app_table (id INTEGER);"
    )
    connection.close()
    drifted = cli("verify")
    assert drifted.code == 4
    assert "column agent_sessions.surprise" in drifted.out and "idx_agent_messages_session_created" in drifted.out
    assert "my_app_table is not created by the requested agents' migrations" in drifted.out
    report = json.loads(cli("verify", "--json").out)
    assert report["ok"] is False and {d["kind"] for d in report["drift"]} == {"missing", "unexpected"}


def make_rust_crate_database(path: Path) -> None:
    """As the original Rust crate left it: same schema, other SQL text, refinery's history rows."""
    from nocodo_agents.checksum import checksum
    from nocodo_agents.loading import load_migrations

    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE refinery_schema_history(version INT4 PRIMARY KEY, name VARCHAR(255), "
        "applied_on VARCHAR(255), checksum VARCHAR(255))"
    )
    for migration in load_migrations("nocodo_agents.database.migrations"):
        rust_sql = "-- nocodo-agents (Rust)\n" + migration.sql("sqlite").replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS")
        connection.executescript(rust_sql)
        connection.execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (?, ?, ?, ?)",
            (migration.version, migration.name, "2025-06-01T08:00:00.123456789Z", str(checksum(migration.name, migration.version, rust_sql))),
        )
    connection.commit()
    connection.close()


def test_repair_adopts_a_database_made_by_the_rust_crate(cli: Cli) -> None:
    database = cli.cwd / "nocodo-agents.db"
    make_rust_crate_database(database)
    blocked = cli("migrate")
    assert blocked.code == 4 and "refinery" in blocked.err and "nocodo-agents repair" in blocked.err
    repaired = cli("repair", "--agent", "core")
    assert repaired.code == 0, repaired.text
    assert "re-recorded V1__create_agent_sessions (core)" in repaired.out
    assert rows(database, "SELECT applied_on FROM refinery_schema_history WHERE version = 1") == [("2025-06-01T08:00:00.123456789Z",)]
    assert cli("migrate").code == 0
    assert cli("status", "--check").code == 0
    assert cli("repair").out.strip().startswith("nothing to repair")


def test_repair_refuses_when_the_schema_drifted(cli: Cli) -> None:
    database = cli.cwd / "nocodo-agents.db"
    make_rust_crate_database(database)
    connection = sqlite3.connect(database)
    connection.execute("DROP INDEX idx_agent_tool_calls_session_status")
    connection.commit()
    connection.close()
    before = rows(database, "SELECT * FROM refinery_schema_history")
    result = cli("repair", "--agent", "core")
    assert result.code == 4
    assert "refusing to repair" in result.err and "idx_agent_tool_calls_session_status" in result.err
    assert rows(database, "SELECT * FROM refinery_schema_history") == before


# -- baseline -------------------------------------------------------------------------------------


def test_baseline_adopts_an_existing_schema(cli: Cli) -> None:
    database = cli.cwd / "nocodo-agents.db"
    from nocodo_agents.loading import load_migrations

    connection = sqlite3.connect(database)
    for migration in load_migrations("nocodo_agents.database.migrations"):
        connection.executescript(migration.sql("sqlite"))
    connection.close()
    result = cli("baseline", "--version", "3")
    assert result.code == 0, result.text
    assert "recorded V3__create_agent_tool_calls (core) as applied (baseline)" in result.out
    applied = cli("migrate")
    assert "[1/1] applied V4__create_project_requirements_qna" in applied.out
    again = cli("baseline", "--version", "3")
    assert again.code == 1 and "already has migration history" in again.err


# -- rollback -------------------------------------------------------------------------------------


def test_rollback_runs_rollbacks_newest_first(cli: Cli, notes_agent: None) -> None:
    database = cli.cwd / "nocodo-agents.db"
    cli("migrate", "--agent", "notes")
    dry = cli("rollback", "--to", "3", "--agent", "notes", "--dry-run")
    assert dry.code == 0 and "DROP TABLE notes;" in dry.out and "DELETE FROM main.refinery_schema_history WHERE version = 100;" in dry.out
    assert "notes" in table_names(database)
    done = cli("rollback", "--to", "3", "--agent", "notes")
    assert done.code == 0, done.text
    assert "rolled back V100__create_notes (notes)" in done.out
    assert "notes" not in table_names(database)
    assert [r[0] for r in rows(database, "SELECT version FROM refinery_schema_history")] == [1, 2, 3]


def test_rollback_without_rollback_function_changes_nothing(cli: Cli, site: Path, notes_agent: None) -> None:
    write_agent_distribution(site, "oneway-agent", "oneway", "oneway_agent", {"V50__one_way": sql_module("CREATE TABLE one_way (id INTEGER);")})
    database = cli.cwd / "nocodo-agents.db"
    cli("migrate", "--agent", "notes", "--agent", "oneway")
    before = rows(database, "SELECT version FROM refinery_schema_history")
    result = cli("rollback", "--to", "3", "--agent", "notes", "--agent", "oneway")
    assert result.code == 1
    assert "cannot roll back V50__one_way of agent 'oneway'" in result.err and "no rollback()" in result.err
    assert "V50__one_way.py" in result.err
    assert rows(database, "SELECT version FROM refinery_schema_history") == before
    assert "notes" in table_names(database), "V100 was not rolled back either"


def test_rollback_to_zero_empties_the_database(cli: Cli) -> None:
    database = cli.cwd / "nocodo-agents.db"
    cli("migrate")
    result = cli("rollback", "--to", "0")
    assert result.code == 0, result.text
    assert result.out.index("V4__") < result.out.index("V3__") < result.out.index("V2__") < result.out.index("V1__")
    assert table_names(database) - {"sqlite_sequence"} == {"refinery_schema_history"}
    assert rows(database, "SELECT COUNT(*) FROM refinery_schema_history") == [(0,)]
    assert cli("migrate").code == 0 and cli("verify").code == 0


# -- new ------------------------------------------------------------------------------------------


def test_new_scaffolds_the_next_version(cli: Cli, site: Path, notes_agent: None) -> None:
    result = cli("new", "notes_agent", "add_tags")
    assert result.code == 0, result.text
    created = site / "notes_agent" / "migrations" / "V101__add_tags.py"
    assert created.exists() and str(created) in result.out
    assert "def migration(dialect" in created.read_text() and "def rollback(dialect" in created.read_text()
    listed = {a["agent"]: a for a in json.loads(cli("agents", "--json").out)}
    assert listed["notes"]["migrations"] == [100, 101]
    unfinished = cli("migrate", "--agent", "notes")
    assert unfinished.code == 5 and "V101__add_tags" in unfinished.err, "a scaffold cannot be applied before it is written"


def test_new_refuses_a_version_another_agent_uses(cli: Cli, site: Path, notes_agent: None) -> None:
    result = cli("new", "notes_agent", "clash", "--version", "4")
    assert result.code == 2
    assert "already used by agent 'requirements_qna' (nocodo-agents-requirements-qna)" in result.err
    assert not list((site / "notes_agent" / "migrations").glob("V4__*"))
    bad = cli("new", "notes_agent", "bad-name")
    assert bad.code == 2 and "letters, digits and underscores" in bad.err
    assert cli("new", "no_such_package_xyz", "x").code == 2


def test_lock_timeout_option(cli: Cli) -> None:
    cli("migrate", "--target", "1")
    database = cli.cwd / "nocodo-agents.db"
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        result = cli("migrate", "--lock-timeout", "0.2")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert result.code == 1 and "within 0.2 s" in result.err and "--lock-timeout" in result.err
    assert cli("migrate", "--lock-timeout", "-1").code == 2
