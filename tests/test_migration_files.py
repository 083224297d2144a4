"""What a migrations package may hold: every entry named like a migration is one, or an error.

Covers refinery ``V{n}__{name}.sql`` files (read lazily, refinery's checksum,
from zips too), misnamed files and directories, non-ASCII versions, names
ending in a newline, non-bool ``transactional``, and empty SQL.
"""

from __future__ import annotations

import importlib
import sqlite3
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import history, registry_of, tables

from nocodo_agents import InvalidMigrationError, Migration, MigrationConflictError, PluginLoadError
from nocodo_agents.checksum import checksum
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.loading import SqlFileMigration, load_migrations
from nocodo_agents.schema.presence import has_statement

NOTES = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n"


def package_dir(package: str) -> Path:
    return Path(importlib.import_module(package).__path__[0])


def add_files(package: str, files: dict[str, str | bytes | None]) -> Path:
    """Write ``files`` into ``package``'s directory: text, bytes, or ``None`` for a directory (a package)."""
    directory = package_dir(package)
    for name, content in files.items():
        path = directory / name
        if content is None:
            path.mkdir()
            (path / "__init__.py").write_text("def migration():\n    return 'SELECT 1;'\n")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    importlib.invalidate_caches()
    return directory


# -- names that look like migrations but are not valid ones --------------------------------------


@pytest.mark.parametrize(
    "file_name, fix",
    [
        ("v1001__lower_case.py", "rename it to V1001__lower_case.py"),
        ("V__no_version.py", "give it its version: V{version}__no_version.py"),
        ("V-1003__dash.py", "rename it to V1003__dash.py"),
        ("V_1005__underscore.py", "rename it to V1005__underscore.py"),
        ("V3_single_underscore.py", "rename it to V3__single_underscore.py"),
        ("V7__bad-name.py", "rename it"),
        ("V\u0661\u0662__arabic_indic_digits.py", "rename it"),  # "١٢": \d matches them, int() reads 12
        ("V\uff18__fullwidth_digit.sql", "rename it"),
        ("V8__trailing_newline\n.py", "rename it"),
        ("v1021__lower_case.sql", "rename it to V1021__lower_case.sql"),
        ("v_helpers.py", "give it its version"),
    ],
)
def test_misnamed_files_are_errors_naming_the_file_and_the_fix(agent_package, file_name: str, fix: str) -> None:
    package = agent_package({"V1__fine": "SELECT 1;"})
    add_files(package, {file_name: "def migration():\n    return 'SELECT 1;'\n"})
    with pytest.raises(InvalidMigrationError) as raised:
        load_migrations(package)
    assert raised.value.source == str(package_dir(package) / file_name)
    assert "V{version}__{name}" in str(raised.value)
    assert fix in str(raised.value)


def test_a_package_named_like_a_migration_is_an_error_naming_the_directory(agent_package) -> None:
    package = agent_package({"V1__fine": "SELECT 1;"})
    directory = add_files(package, {"V1019__pkg": None})
    with pytest.raises(InvalidMigrationError) as raised:
        load_migrations(package)
    assert raised.value.source == str(directory / "V1019__pkg")
    assert "not a package" in str(raised.value) and "move its code into V1019__pkg.py" in str(raised.value)


@pytest.mark.parametrize(
    "file_name, expected",
    [
        ("U5__unversioned.sql", "unversioned (U) migrations are not supported; rename it to V5__unversioned.sql"),
        ("V6__rust_module.rs", "Rust migration module cannot run here"),
        ("V9__backup.py~", "neither a .py module nor a .sql file; rename it, or delete it"),
        ("V10__upper.PY", "rename it to V10__upper.py"),
        ("V11__compiled.pyc", "delete it if it is a backup or a compiled file"),
        ("V12__notes.txt", "neither a .py module nor a .sql file"),
    ],
)
def test_unsupported_kinds_of_migration_file_are_errors(agent_package, file_name: str, expected: str) -> None:
    package = agent_package({})
    add_files(package, {file_name: "SELECT 1;"})
    with pytest.raises(InvalidMigrationError, match="invalid migration .*" + file_name.replace(".", r"\.")) as raised:
        load_migrations(package)
    assert expected in str(raised.value)


def test_other_files_and_directories_are_ignored(agent_package) -> None:
    package = agent_package({"V2__two": "SELECT 2;", "helpers": "x = 1\n", "views": "x = 2\n"})
    add_files(package, {"README.md": "notes", "sql": None, "Validators.py": "x = 3\n", "upgrade.sql": "SELECT 9;"})
    assert [m.version for m in load_migrations(package)] == [2]


def test_a_broken_file_fails_the_agent_with_a_plugin_load_error(agent_package) -> None:
    from conftest import plugin_for

    from nocodo_agents.discovery import AgentRegistry

    package = agent_package({"V100__fine": "SELECT 1;"})
    add_files(package, {"v101__typo.py": "SELECT 1;"})
    registry = AgentRegistry.from_plugins({"typo": plugin_for(package)}, "typo-dist")
    with pytest.raises(PluginLoadError) as raised:
        registry.requested_sets(["typo"])
    assert "typo-dist" in str(raised.value) and "v101__typo.py" in str(raised.value)


# -- versions and names ---------------------------------------------------------------------------


def test_leading_zeros_are_the_same_version_and_a_clash_names_both_files(agent_package, conn) -> None:
    package = agent_package({"V0100__padded": NOTES, "V100__plain": "CREATE TABLE other (id INTEGER);"})
    assert [m.version for m in load_migrations(package)] == [100, 100]
    with pytest.raises(MigrationConflictError) as raised:
        run_agent_migrations(conn, registry=registry_of(pad=package))
    message = str(raised.value)
    assert "V0100__padded.py" in message and "V100__plain.py" in message
    assert "within agent 'pad'" in message and "V01 is V1" in message
    assert "do not request both agents" not in message
    assert tables(conn) == {}


def test_a_py_and_a_sql_file_with_one_version_fail_naming_both(agent_package, conn) -> None:
    package = agent_package({"V100__as_module": NOTES})
    add_files(package, {"V100__as_sql.sql": NOTES})
    with pytest.raises(MigrationConflictError) as raised:
        run_agent_migrations(conn, registry=registry_of(both=package))
    assert "V100__as_module.py" in str(raised.value) and "V100__as_sql.sql" in str(raised.value)
    assert tables(conn) == {}


@pytest.mark.parametrize("name", ["notes\n", "n\u00f6tes", "notes ", "", "x\n\n"])
def test_migration_names_must_be_ascii_and_fully_match(name: str) -> None:
    with pytest.raises(InvalidMigrationError, match="must match"):
        Migration(1, name, "SELECT 1;")


def test_scaffold_refuses_a_name_ending_in_a_newline(agent_package) -> None:
    from nocodo_agents import ScaffoldError
    from nocodo_agents.discovery import AgentRegistry
    from nocodo_agents.scaffold import scaffold_migration

    package = agent_package({"V100__first": "SELECT 1;"})
    with pytest.raises(ScaffoldError):
        scaffold_migration(package, "second\n", registry=AgentRegistry([]))
    assert sorted(p.name for p in package_dir(package).glob("V*")) == ["V100__first.py"]


# -- transactional and the migration/rollback attributes ----------------------------------------


@pytest.mark.parametrize("value", ['"False"', "0", "None", "'no'", "[]"])
def test_transactional_must_be_a_bool(agent_package, value: str) -> None:
    package = agent_package({"V1__flag": f"def migration():\n    return 'VACUUM;'\n\ntransactional = {value}\n"})
    (migration,) = load_migrations(package)
    with pytest.raises(InvalidMigrationError, match="transactional must be True or False") as raised:
        _ = migration.transactional
    assert raised.value.source.endswith("V1__flag.py")
    with pytest.raises(InvalidMigrationError, match="transactional must be True or False"):
        Migration(1, "flag", "VACUUM;", transactional="False")  # type: ignore[arg-type]


def test_migration_and_rollback_attributes_that_are_not_functions(agent_package) -> None:
    package = agent_package(
        {
            "V1__sql_string": "# a string, not a function\nmigration = 'CREATE TABLE a (id INTEGER);'\n",
            "V2__rollback_string": "def migration():\n    return 'SELECT 1;'\n\nrollback = 'DROP TABLE a;'\n",
        }
    )
    sql_string, rollback_string = load_migrations(package)
    with pytest.raises(InvalidMigrationError, match="migration is a str, not a function"):
        sql_string.sql("sqlite")
    with pytest.raises(InvalidMigrationError, match="rollback is a str, not a function"):
        _ = rollback_string.has_rollback
    with pytest.raises(InvalidMigrationError, match="rollback must be a str or a callable"):
        Migration(1, "x", "SELECT 1;", rollback=42)  # type: ignore[arg-type]


# -- empty SQL ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql, dialects",
    [
        ("", ("sqlite", "postgresql", "mysql")),
        ("  \n\t ", ("sqlite", "postgresql", "mysql")),
        (";\n ; ;", ("sqlite", "postgresql", "mysql")),
        ("-- nothing yet\n", ("sqlite", "postgresql", "mysql")),
        ("-- no newline at the end", ("sqlite", "postgresql", "mysql")),
        ("/* later */ ; -- really\n/* multi\nline */", ("sqlite", "postgresql", "mysql")),
        ("/* unterminated", ("sqlite", "postgresql", "mysql")),
        ("# a MySQL comment\n", ("mysql",)),
        ("/* outer /* nested */ still a comment */", ("postgresql",)),
    ],
)
def test_sql_of_only_whitespace_and_comments_has_no_statement(sql: str, dialects) -> None:
    for dialect in dialects:
        assert not has_statement(sql, dialect), dialect


@pytest.mark.parametrize(
    "sql, dialect",
    [
        ("SELECT 1", "sqlite"),
        ("-- comment\nCREATE TABLE t (id int);", "postgresql"),
        ("# comment\n/*!40101 SET NAMES utf8 */;", "mysql"),  # executable comment: code on MySQL
        ("/*M!100100 CREATE TABLE t (id INT) */;", "mysql"),  # MariaDB's executable comment: code too
        ("# not a comment outside MySQL", "sqlite"),
        ("/* outer /* nested */ code after the inner end */", "sqlite"),  # SQLite does not nest
    ],
)
def test_sql_with_code_has_a_statement(sql: str, dialect: str) -> None:
    assert has_statement(sql, dialect)


@pytest.mark.parametrize("sql", ["", "   \n", "-- TODO\n", "/* nothing */;"])
def test_empty_migration_sql_is_an_error_naming_the_file(agent_package, conn, sql: str) -> None:
    package = agent_package({"V100__notes": NOTES, "V101__empty": f"def migration(dialect):\n    return {sql!r}\n"})
    with pytest.raises(InvalidMigrationError, match="is empty") as raised:
        run_agent_migrations(conn, registry=registry_of(empty=package))
    assert raised.value.source.endswith("V101__empty.py")
    assert "notes" not in tables(conn)  # refused before the run applied anything


def test_an_empty_migration_applied_long_ago_is_only_checksummed(agent_package, conn) -> None:
    """refinery may have applied a placeholder: it is not run again, so it is not refused."""
    from nocodo_agents.lifecycle import verify_database

    package = agent_package({"V100__notes": NOTES, "V101__placeholder": "def migration(dialect):\n    return '-- later\\n'\n"})
    registry = registry_of(empty=package)
    with pytest.raises(InvalidMigrationError, match="is empty"):
        run_agent_migrations(conn, registry=registry)
    run_agent_migrations(conn, registry=registry_of(empty=agent_package({"V100__notes": NOTES})))
    from nocodo_agents.checksum import checksum

    conn.execute(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum, agent) VALUES (101, 'placeholder', '2024-01-01T00:00:00Z', ?, 'empty')",
        (str(checksum("placeholder", 101, "-- later\n")),),
    )
    conn.commit()
    assert run_agent_migrations(conn, registry=registry).applied == ()
    assert verify_database(conn, registry=registry).ok


def test_an_empty_sql_file_is_an_error_naming_it(agent_package, conn) -> None:
    package = agent_package({})
    directory = add_files(package, {"V100__placeholder.sql": "-- filled in later\n"})
    with pytest.raises(InvalidMigrationError, match="is empty") as raised:
        run_agent_migrations(conn, registry=registry_of(empty=package))
    assert raised.value.source == str(directory / "V100__placeholder.sql")


def test_an_empty_rollback_is_a_deliberate_no_op(agent_package, conn) -> None:
    from nocodo_agents.lifecycle import rollback_migrations

    package = agent_package(
        {"V100__seed": "def migration():\n    return 'CREATE TABLE seed (id INTEGER);'\n\ndef rollback():\n    return '-- nothing to undo\\n'\n"}
    )
    registry = registry_of(seed=package)
    run_agent_migrations(conn, registry=registry)
    rollback_migrations(conn, 3, registry=registry)
    assert [row[0] for row in history(conn)] == [1, 2, 3]
    assert "seed" in tables(conn)  # the rollback ran no SQL, as written


# -- refinery .sql files --------------------------------------------------------------------------


def test_sql_files_are_migrations_read_only_when_needed(agent_package) -> None:
    package = agent_package({"V1__module": "SELECT 1;"})
    directory = add_files(package, {"V2__create_notes.sql": "SELECT 'first text';", "V0003__padded.sql": NOTES})
    module, sql_file, padded = load_migrations(package)
    assert [(m.version, m.name) for m in (module, sql_file, padded)] == [(1, "module"), (2, "create_notes"), (3, "padded")]
    assert isinstance(sql_file, SqlFileMigration) and sql_file.source == str(directory / "V2__create_notes.sql")
    (directory / "V2__create_notes.sql").write_text(NOTES)  # listed, not read: the text read later counts
    assert sql_file.sql("sqlite") == sql_file.sql("postgresql") == sql_file.sql("mysql") == NOTES
    assert sql_file.transactional and not sql_file.has_rollback


def test_sql_files_in_subdirectories_count_as_refinery_finds_them(agent_package) -> None:
    package = agent_package({"V1__module": "SELECT 1;"})
    directory = package_dir(package)
    (directory / "2024" / "q1").mkdir(parents=True)
    (directory / "2024" / "q1" / "V2__nested.sql").write_text(NOTES)
    (directory / "2024" / "README.md").write_text("not a migration")
    (directory / "__pycache__").mkdir(exist_ok=True)
    (directory / "__pycache__" / "V9__cached.sql").write_text("never read")
    module, nested = load_migrations(package)
    assert (nested.version, nested.name, nested.sql("sqlite")) == (2, "nested", NOTES)
    assert nested.source == str(directory / "2024" / "q1" / "V2__nested.sql")
    (directory / "2024" / "v3__lower.sql").write_text(NOTES)
    with pytest.raises(InvalidMigrationError, match="v3__lower.sql.*rename it to V3__lower.sql"):
        load_migrations(package)


def test_a_migration_module_in_a_subdirectory_is_an_error(agent_package) -> None:
    package = agent_package({"V1__module": "SELECT 1;"})
    directory = package_dir(package)
    (directory / "older").mkdir()
    (directory / "older" / "V2__nested.py").write_text("def migration():\n    return 'SELECT 2;'\n")
    with pytest.raises(InvalidMigrationError, match="must be directly in the package") as raised:
        load_migrations(package)
    assert raised.value.source == str(directory / "older" / "V2__nested.py")


@pytest.mark.parametrize(
    "file_name, content, name, version, sql",
    [
        ("V2__add_cars_table.sql", b"CREATE TABLE cars (id int);\n", "add_cars_table", 2, "CREATE TABLE cars (id int);\n"),
        (
            "V1__initial.sql",
            b"CREATE TABLE persons (id int, name varchar(255), city varchar(255));",
            "initial", 1, "CREATE TABLE persons (id int, name varchar(255), city varchar(255));",
        ),
    ],
)
def test_sql_file_checksum_is_refinerys(agent_package, file_name, content, name, version, sql) -> None:
    package = agent_package({})
    add_files(package, {file_name: content})
    (migration,) = load_migrations(package)
    known = {("add_cars_table", 2): 400329894133636591, ("initial", 1): 9011118159008407467}  # tests/test_checksum.py
    assert migration.checksum("sqlite") == checksum(name, version, sql) == known[(name, version)]


def test_sql_file_text_is_taken_byte_for_byte(agent_package) -> None:
    """refinery's include_str! keeps CRLF line endings and a BOM: so does the checksum here."""
    package = agent_package({})
    raw = "\ufeffCREATE TABLE crlf (id int);\r\nCREATE TABLE more (id int);\r\n"
    add_files(package, {"V5__crlf.sql": raw.encode("utf-8")})
    (migration,) = load_migrations(package)
    assert migration.sql("postgresql") == raw
    assert migration.checksum("postgresql") == checksum("crlf", 5, raw)
    assert migration.checksum("postgresql") != checksum("crlf", 5, raw.replace("\r\n", "\n"))


def test_sql_file_that_is_not_utf8_names_the_file(agent_package) -> None:
    package = agent_package({})
    add_files(package, {"V5__latin1.sql": "INSERT INTO t VALUES ('caf\u00e9');".encode("latin-1")})
    (migration,) = load_migrations(package)
    with pytest.raises(InvalidMigrationError, match="V5__latin1.sql.*not UTF-8"):
        migration.sql("sqlite")


def test_sql_files_load_from_a_zip_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "sql_agent.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped_sql_agent/__init__.py", "")
        zipped.writestr("zipped_sql_agent/migrations/__init__.py", "")
        zipped.writestr("zipped_sql_agent/migrations/V7__from_zip.sql", NOTES)
        zipped.writestr("zipped_sql_agent/migrations/V8__module.py", "def migration():\n    return 'SELECT 8;'\n")
    monkeypatch.syspath_prepend(str(archive))
    try:
        sql_file, module = load_migrations("zipped_sql_agent.migrations")
        assert (sql_file.version, sql_file.name, sql_file.sql("sqlite")) == (7, "from_zip", NOTES)
        assert "sql_agent.zip" in sql_file.source and sql_file.source.endswith("V7__from_zip.sql")
        assert module.sql("sqlite") == "SELECT 8;"
    finally:
        for name in [m for m in sys.modules if m.startswith("zipped_sql_agent")]:
            del sys.modules[name]


def test_a_misnamed_file_in_a_zip_archive_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "bad_agent.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped_bad_agent/__init__.py", "")
        zipped.writestr("zipped_bad_agent/migrations/__init__.py", "")
        zipped.writestr("zipped_bad_agent/migrations/v7__lower.sql", NOTES)
    monkeypatch.syspath_prepend(str(archive))
    try:
        with pytest.raises(InvalidMigrationError, match="bad_agent.zip.*v7__lower.sql.*rename it to V7__lower.sql"):
            load_migrations("zipped_bad_agent.migrations")
    finally:
        for name in [m for m in sys.modules if m.startswith("zipped_bad_agent")]:
            del sys.modules[name]


def test_sql_file_migrations_apply_and_record_refinerys_checksum_on_sqlite(agent_package, conn) -> None:
    package = agent_package({"V101__module": "CREATE TABLE after_notes (id INTEGER);"})
    add_files(package, {"V100__create_notes.sql": NOTES})
    report = run_agent_migrations(conn, registry=registry_of(ported=package))
    assert report.versions[-2:] == (100, 101)
    assert {"notes", "after_notes"} <= set(tables(conn))
    stored = conn.execute("SELECT name, checksum FROM refinery_schema_history WHERE version = 100").fetchone()
    assert stored == ("create_notes", str(checksum("create_notes", 100, NOTES)))
    assert run_agent_migrations(conn, registry=registry_of(ported=package)).applied == ()


def test_the_sqlite_history_of_a_sql_file_is_what_refinery_would_write(agent_package, tmp_path: Path) -> None:
    """A database refinery migrated with the same .sql file is up to date here, without divergence."""
    package = agent_package({})
    add_files(package, {"V100__create_notes.sql": NOTES})
    path = tmp_path / "refinery.sqlite"
    connection = sqlite3.connect(path)
    try:
        run_agent_migrations(connection, registry=registry_of())  # core first, as the Rust crate would have
        connection.executescript(NOTES)
        connection.execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES (?, ?, ?, ?)",
            (100, "create_notes", "2024-03-01T10:00:00Z", str(checksum("create_notes", 100, NOTES))),
        )
        connection.commit()
        report = run_agent_migrations(connection, registry=registry_of(ported=package))
        assert report.applied == ()
    finally:
        connection.close()
