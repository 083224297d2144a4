"""64-bit versions, as refinery's ``int8-versions`` feature has them: checksums, ranges, and histories on every dialect.

The unit tests need no database; the others run on a real SQLite file and
the private PostgreSQL and MariaDB servers (``db`` is one of each).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from conftest import registry_of
from int8_support import (
    REFINERY_APPLIED_ON,
    TIMESTAMP,
    Db,
    call,
    db_for,
    expected_checksum,
    migrate,
    sqlite_db,
    widen_by_hand_keeping_32_bit_checksums,
)

from nocodo_agents import DivergentMigrationError, HistoryWideningError, InvalidArgumentError, InvalidMigrationError
from nocodo_agents.checksum import checksum
from nocodo_agents.cli.options import version_number
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import repair_history, rollback_migrations, verify_database, widen_history
from nocodo_agents.loading import load_migrations
from nocodo_agents.migration import MAX_INT4_VERSION, MAX_VERSION, Migration
from nocodo_agents.planning import check_target
from nocodo_agents.status import NEEDS_RERECORDING, migration_status

CORE = "nocodo_agents.database.migrations"


# -- without a database ---------------------------------------------------------------------------


def test_checksums_equal_refinery_built_with_int8_versions() -> None:
    """Values computed by refinery_core 0.9.1 built with int8-versions (issue 11)."""
    assert checksum("create_a", 1, "CREATE TABLE a (x int);\n", int8_versions=True) == 3294569318775515282
    assert checksum("create_notes", 20261201120000, "CREATE TABLE notes (id int);\n", int8_versions=True) == 565024672415820185
    # Without the feature the version is an i32: the same migration hashes differently.
    assert checksum("create_a", 1, "CREATE TABLE a (x int);\n") != 3294569318775515282
    assert checksum("initial", 1, "CREATE TABLE persons (id int, name varchar(255), city varchar(255));") == 9011118159008407467


def test_a_migration_caches_each_encoding_apart() -> None:
    migration = Migration(1, "create_a", "CREATE TABLE a (x int);\n")
    assert migration.checksum("sqlite", True) == 3294569318775515282
    assert migration.checksum("sqlite") == checksum("create_a", 1, "CREATE TABLE a (x int);\n")
    assert migration.checksum("sqlite", True) == 3294569318775515282


def test_versions_range_over_refinery_i64() -> None:
    assert (MAX_VERSION, MAX_INT4_VERSION) == (2**63 - 1, 2**31 - 1)
    assert Migration(MAX_VERSION, "largest", "SELECT 1;").version == MAX_VERSION
    assert Migration(TIMESTAMP, "notes", "SELECT 1;").version == TIMESTAMP
    with pytest.raises(InvalidMigrationError, match=r"outside 0\.\.9223372036854775807"):
        Migration(2**63, "too_big", "SELECT 1;")
    check_target(MAX_VERSION)
    check_target(TIMESTAMP)
    with pytest.raises(InvalidArgumentError, match="between 0 and 9223372036854775807"):
        check_target(2**63)


def test_loading_takes_timestamp_versions(agent_package) -> None:
    package = agent_package({f"V{TIMESTAMP}__create_notes": "CREATE TABLE notes (id int);", f"V{MAX_VERSION}__last": "SELECT 1;"})
    assert [m.version for m in load_migrations(package)] == [TIMESTAMP, MAX_VERSION]


@pytest.mark.parametrize("text", ["0", "20261201120000", str(2**63 - 1), "0009223372036854775807"])
def test_cli_version_options_take_64_bit_versions(text: str) -> None:
    assert version_number(text) == int(text)


@pytest.mark.parametrize("text", [str(2**63), "1" * 40])
def test_cli_version_options_say_the_range(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"outside 0\.\.9223372036854775807"):
        version_number(text)


# -- one database of each dialect -----------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    return db_for(request, tmp_path)


def checksums_are(db: Db, registry: AgentRegistry, int8: bool) -> None:
    """Every row of the history holds its installed migration's checksum in the ``int8`` encoding (or not)."""
    installed = {m.version: m for s in registry.requested_sets(None) for m in s.migrations}
    for version, name, stored, _ in db.history():
        assert stored == expected_checksum(installed[version], db.dialect, int8), (version, name)


@pytest.fixture
def notes(agent_package) -> str:
    """An agent numbered as the docs (writing an agent) tell third parties: a UTC timestamp."""
    return agent_package({
        f"V{TIMESTAMP}__create_notes": "def migration(dialect):\n    return 'CREATE TABLE notes (id INT)'\n\n\n"
        "def rollback(dialect):\n    return 'DROP TABLE notes'\n",
    })


@pytest.fixture
def small(agent_package) -> str:
    return agent_package({"V4__create_small": "CREATE TABLE small (id INT)"})


def test_a_fresh_database_keeps_refinery_default_32_bit_history(db: Db, small: str) -> None:
    registry = registry_of(small=small)
    assert migrate(db, registry).versions == (1, 2, 3, 4)
    assert not db.is_64_bit(), db.version_type()
    checksums_are(db, registry, int8=False)


def test_a_first_run_needing_a_timestamp_version_creates_the_history_64_bit(db: Db, small: str, notes: str) -> None:
    registry = registry_of(small=small, notes=notes)
    assert migrate(db, registry).versions == (1, 2, 3, 4, TIMESTAMP)
    assert db.is_64_bit(), db.version_type()
    checksums_are(db, registry, int8=True)
    assert [row[0] for row in db.history()] == [1, 2, 3, 4, TIMESTAMP]
    assert migrate(db, registry).applied == ()
    assert call(db, verify_database, registry=registry).divergent == ()


@pytest.mark.parametrize("agent_column", [False, True], ids=["refinery's table", "with our agent column"])
def test_a_history_refinery_created_with_int8_versions_is_read_and_appended_to(db: Db, notes: str, agent_column: bool) -> None:
    core = load_migrations(CORE)
    db.refinery_history(int8=True, migrations=core, agent_column=agent_column)
    registry = registry_of(notes=notes)
    # Read: refinery's int8 checksums verify (they would diverge read as 32-bit ones).
    assert [row.state for row in call(db, migration_status, registry=registry)] == ["applied"] * 3 + ["pending"]
    report = migrate(db, registry)
    assert report.versions == (TIMESTAMP,)
    assert db.is_64_bit()
    checksums_are(db, registry, int8=True)
    rows = db.history()
    assert [(v, a) for v, _, _, a in rows] == [(1, None), (2, None), (3, None), (TIMESTAMP, "notes")]
    assert db.rows("SELECT applied_on FROM refinery_schema_history WHERE version = 1") == [(REFINERY_APPLIED_ON,)]
    assert migrate(db, registry).applied == ()
    # refinery built with int8-versions appends its own row by naming its four columns: read as any other.
    db.run(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES "
        f"(20261202000000, 'rust_side', '{REFINERY_APPLIED_ON}', '{checksum('rust_side', 20261202000000, 'SELECT 1', True)}')"
    )
    assert [r.version for r in migrate(db, registry).not_installed] == [20261202000000]


def test_a_32_bit_history_is_widened_when_a_run_records_a_timestamp_version(db: Db, small: str, notes: str) -> None:
    assert migrate(db, registry_of(small=small)).versions == (1, 2, 3, 4)
    registry = registry_of(small=small, notes=notes)
    report = migrate(db, registry)
    assert report.versions == (TIMESTAMP,)
    assert db.is_64_bit(), db.version_type()
    checksums_are(db, registry, int8=True)
    assert [(v, a) for v, _, _, a in db.history()] == [(1, "core"), (2, "core"), (3, "core"), (4, "small"), (TIMESTAMP, "notes")]
    assert call(db, verify_database, registry=registry).ok
    # Rolling the timestamp migration back leaves the history 64-bit, its checksums int8.
    assert [s.version for s in call(db, rollback_migrations, 4, registry=registry).rolled_back] == [TIMESTAMP]
    assert db.is_64_bit()
    checksums_are(db, registry, int8=True)
    assert migrate(db, registry).versions == (TIMESTAMP,)


def test_widening_a_refinery_32_bit_history_re_records_its_rows(db: Db, notes: str) -> None:
    """A Rust application without int8-versions made the history; installing a timestamp agent widens it."""
    core = load_migrations(CORE)
    db.refinery_history(int8=False, migrations=core)
    registry = registry_of(notes=notes)
    assert migrate(db, registry).versions == (TIMESTAMP,)
    assert db.is_64_bit()
    checksums_are(db, registry, int8=True)
    assert [a for _, _, _, a in db.history()] == [None, None, None, "notes"], "re-recording changes no row's agent"


def test_widening_refuses_rows_no_installed_agent_provides_before_changing_anything(db: Db, small: str, notes: str) -> None:
    """small was uninstalled and a Rust application recorded a migration: no installed agent can verify either row.
    (Rows of agents installed but not requested are verified and re-recorded: tests/test_int8_versions_unrequested.py.)"""
    assert migrate(db, registry_of(small=small)).versions == (1, 2, 3, 4)
    db.run(  # a Rust application sharing the database (without int8-versions) recorded a migration of its own
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES "
        f"(50, 'rust_side', '{REFINERY_APPLIED_ON}', '{checksum('rust_side', 50, 'SELECT 1')}')"
    )
    before = db.history()
    connection = db.connect()
    try:
        with pytest.raises(HistoryWideningError) as raised:
            run_agent_migrations(connection, agents=["notes"], registry=registry_of(notes=notes))
    finally:
        connection.close()
    error = raised.value
    assert error.rows == ((4, "create_small", "small"), (50, "rust_side", None))
    assert error.needed_by == (TIMESTAMP, "create_notes", "notes")
    message = str(error)
    assert "V4__create_small (agent 'small')" in message and "V50__rust_side (no agent: written by refinery)" in message
    assert "Nothing was changed" in message and "keep_unverified=True" in message
    assert db.history() == before and not db.is_64_bit(), "nothing changed"
    # The rows belong to a Rust application: widen keeping their 32-bit checksums, then migrate.
    registry = registry_of(small=small, notes=notes)
    report = call(db, widen_history, registry=registry, keep_unverified=True)
    assert report.widened and [r.version for r in report.kept] == [50]
    assert [r.version for r in report.rerecorded] == [1, 2, 3, 4]
    assert db.is_64_bit()
    rows = {v: c for v, _, c, _ in db.history()}
    assert rows[50] == str(checksum("rust_side", 50, "SELECT 1")), "kept as it was"
    assert migrate(db, registry).versions == (TIMESTAMP,)
    assert rows[4] == db.history()[3][2] == expected_checksum(load_migrations(small)[0], db.dialect, True)


def test_widen_history_explicitly_before_any_timestamp_version(db: Db, small: str) -> None:
    registry = registry_of(small=small)
    migrate(db, registry)
    report = call(db, widen_history, registry=registry)
    assert report.widened and [r.version for r in report.rerecorded] == [1, 2, 3, 4] and report.kept == ()
    assert db.is_64_bit()
    checksums_are(db, registry, int8=True)
    assert migrate(db, registry).applied == ()
    again = call(db, widen_history, registry=registry)
    assert not again.widened and again.rerecorded == ()
    assert db.is_64_bit()


def test_widen_history_on_a_database_without_history_creates_it_64_bit(db: Db, small: str) -> None:
    registry = registry_of(small=small)
    report = call(db, widen_history, registry=registry)
    assert report.widened and report.rerecorded == ()
    assert db.is_64_bit() and db.history() == []
    assert migrate(db, registry).versions == (1, 2, 3, 4)
    checksums_are(db, registry, int8=True)


def test_a_64_bit_history_holding_32_bit_checksums_is_accepted_and_re_recorded(db: Db, small: str, notes: str) -> None:
    """What a MySQL widening stopped between its ALTER and its checksums leaves (here on every dialect), or an agent
    reinstalled after widening kept its rows: verification accepts the 32-bit checksum of the same migration, the
    no-op path changes nothing, and the next run that changes anything records them in the int8 encoding."""
    registry = registry_of(small=small)
    migrate(db, registry)
    before = db.history()
    widen_by_hand_keeping_32_bit_checksums(db)
    assert db.is_64_bit() and db.history() == before
    rows = call(db, migration_status, registry=registry)
    assert [r.state for r in rows] == [NEEDS_RERECORDING] * 4
    assert all("re-recording" in (r.detail or "") for r in rows)
    assert call(db, verify_database, registry=registry).divergent == ()
    assert migrate(db, registry).applied == ()
    assert db.history() == before, "the no-op path writes nothing"
    report = migrate(db, registry_of(small=small, notes=notes))
    assert report.versions == (TIMESTAMP,)
    checksums_are(db, registry_of(small=small, notes=notes), int8=True)
    assert [r.state for r in call(db, migration_status, registry=registry)] == ["applied"] * 4 + ["applied-not-installed"]


def test_repair_re_records_32_bit_checksums_of_a_64_bit_history(db: Db, small: str) -> None:
    core = load_migrations(CORE)
    db.refinery_history(int8=True, migrations=[])  # a Rust app built with int8-versions made the table, empty
    registry = registry_of(small=small)
    migrate(db, registry)
    db.run(*(  # rows of the same migrations, as recorded before widening
        f"UPDATE refinery_schema_history SET checksum = '{expected_checksum(m, db.dialect, False)}' WHERE version = {m.version}"
        for m in core
    ))
    report = call(db, repair_history, registry=registry)
    assert [r.version for r in report.repaired] == [1, 2, 3]
    checksums_are(db, registry, int8=True)
    assert [a for _, _, _, a in db.history()] == ["core", "core", "core", "small"]


def test_a_32_bit_checksum_of_another_migration_still_diverges_in_a_64_bit_history(db: Db, small: str, notes: str) -> None:
    registry = registry_of(small=small, notes=notes)
    migrate(db, registry)
    db.run(f"UPDATE refinery_schema_history SET checksum = '{checksum('create_small', 4, 'edited')}' WHERE version = 4")
    with pytest.raises(DivergentMigrationError) as raised:
        migrate(db, registry)
    assert raised.value.version == 4


def test_a_dry_run_shows_the_64_bit_history_it_would_make(db: Db, small: str, notes: str) -> None:
    fresh = migrate(db, registry_of(small=small, notes=notes), dry_run=True)
    assert "version INT8 PRIMARY KEY" in fresh.setup_sql[0]
    migrate(db, registry_of(small=small))
    report = migrate(db, registry_of(small=small, notes=notes), dry_run=True)
    assert any("int8" in s.lower() or "bigint" in s.lower() for s in report.setup_sql), report.setup_sql
    assert str(checksum("create_notes", TIMESTAMP, "CREATE TABLE notes (id INT)", True)) in (report.applied[0].history_sql or "")
    assert not db.is_64_bit(), "a dry run changes nothing"


def test_a_32_bit_history_another_runner_made_while_this_one_waited_is_widened_first(tmp_path: Path, notes: str) -> None:
    """This run saw no history (so it would create a 64-bit one); under the lock it finds a 32-bit one: widened first."""
    import sqlite3
    import threading

    from int8_support import REFINERY_CREATE
    from lock_waits import lock_wait_logged

    db = sqlite_db(tmp_path)
    registry = registry_of(notes=notes)
    other = sqlite3.connect(tmp_path / "agents.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute(REFINERY_CREATE.format(version_type="int4"))
    outcome: dict = {}

    def runner() -> None:
        connection = sqlite3.connect(tmp_path / "agents.sqlite", check_same_thread=False)
        try:
            outcome["report"] = run_agent_migrations(connection, registry=registry, lock_timeout=60)
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error
        finally:
            connection.close()

    with lock_wait_logged() as waiting:
        thread = threading.Thread(target=runner)
        thread.start()
        assert waiting.wait(60), "the runner waits for the lock, having read no history table"
        other.execute("COMMIT")
        thread.join(120)
    other.close()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["report"].versions == (1, 2, 3, TIMESTAMP)
    assert db.is_64_bit()
    checksums_are(db, registry, int8=True)


def test_a_32_bit_checksum_of_a_version_beyond_i32_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError, match="int8_versions=True") as raised:
        checksum("create_notes", TIMESTAMP, "CREATE TABLE notes (id int);\n")
    assert (raised.value.argument, raised.value.value) == ("version", TIMESTAMP)
    with pytest.raises(InvalidArgumentError, match="i64"):
        checksum("x", 2**63, "SELECT 1", int8_versions=True)


@pytest.mark.parametrize("existing", [False, True], ids=["no history table", "an empty 32-bit one"])
def test_baseline_and_fake_record_timestamp_versions_in_a_64_bit_history(db: Db, notes: str, existing: bool) -> None:
    from nocodo_agents.lifecycle import baseline, record_as_applied

    if existing:
        db.refinery_history(int8=False, migrations=[])
    registry = registry_of(notes=notes)
    report = call(db, baseline, 3, registry=registry)
    assert [s.version for s in report.adopted] == [1, 2, 3]
    assert not db.is_64_bit(), "nothing above 2**31 - 1 recorded yet"
    report = call(db, record_as_applied, registry=registry)  # migrate --fake
    assert [s.version for s in report.adopted] == [TIMESTAMP]
    assert db.is_64_bit()
    checksums_are(db, registry, int8=True)


@pytest.mark.parametrize("existing", [False, True], ids=["no history table", "an empty 32-bit one"])
def test_a_baseline_straight_to_a_timestamp_version(db: Db, notes: str, existing: bool) -> None:
    from nocodo_agents.lifecycle import baseline

    if existing:
        db.refinery_history(int8=False, migrations=[])
    registry = registry_of(notes=notes)
    report = call(db, baseline, TIMESTAMP, registry=registry)
    assert [s.version for s in report.adopted] == [1, 2, 3, TIMESTAMP]
    assert db.is_64_bit()
    checksums_are(db, registry, int8=True)


def test_a_sqlite_history_declared_int4_holding_a_64_bit_version_is_read_as_64_bit(tmp_path: Path, notes: str) -> None:
    """SQLite stores any integer whatever the declared type: refinery with int8-versions appending to a table an
    application without it created leaves such a history. Its rows are read in the i64 encoding."""
    db = sqlite_db(tmp_path)
    core = load_migrations(CORE)
    db.refinery_history(int8=False, migrations=[])
    db.run(*(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES "
        f"({m.version}, '{m.name}', '{REFINERY_APPLIED_ON}', '{expected_checksum(m, 'sqlite', True)}')"
        for m in [*core, *load_migrations(notes)]
    ))
    registry = registry_of(notes=notes)
    assert [r.state for r in call(db, migration_status, registry=registry)] == ["applied"] * 4
    assert migrate(db, registry).applied == ()
