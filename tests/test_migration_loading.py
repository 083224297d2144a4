"""Migration objects and load_migrations: naming, versions, laziness, zips."""

import sys
import zipfile
from pathlib import Path

import pytest

from nocodo_agents import InvalidMigrationError, Migration
from nocodo_agents.migration import MAX_VERSION
from nocodo_agents.plugins import load_migrations


def test_loads_versions_in_order_without_importing_modules(agent_package) -> None:
    package = agent_package({"V10__ten": "SELECT 10;", "V2__two": "SELECT 2;", "helpers": "# not a migration\nx = 1"})
    migrations = load_migrations(package)
    assert [(m.version, m.name) for m in migrations] == [(2, "two"), (10, "ten")]
    assert f"{package}.V2__two" not in sys.modules  # listed, not imported
    assert migrations[0].sql("sqlite") == "SELECT 2;"
    assert f"{package}.V2__two" in sys.modules
    assert migrations[0].source.endswith("V2__two.py")


def test_dialect_argument_is_optional(agent_package) -> None:
    package = agent_package(
        {
            "V1__neutral": "def migration():\n    return 'SELECT 1;'\n",
            "V2__by_dialect": "def migration(dialect):\n    return 'SELECT ' + repr(dialect) + ';'\n",
        }
    )
    neutral, by_dialect = load_migrations(package)
    assert neutral.sql("postgresql") == "SELECT 1;"
    assert by_dialect.sql("mysql") == "SELECT 'mysql';"


def test_sql_is_generated_once_per_dialect() -> None:
    calls = []

    def sql(dialect: str) -> str:
        calls.append(dialect)
        return "SELECT 1;"

    migration = Migration(1, "one", sql)
    assert calls == []
    migration.sql("sqlite")
    migration.sql("sqlite")
    migration.sql("postgresql")
    assert calls == ["sqlite", "postgresql"]


@pytest.mark.parametrize("module", ["V3_single_underscore", "V4__bad-name", "V5__", "V6x__name"])
def test_misnamed_migration_module_is_an_error_naming_the_file(agent_package, module: str) -> None:
    package = agent_package({module: "SELECT 1;"})
    with pytest.raises(InvalidMigrationError) as raised:
        load_migrations(package)
    assert module in str(raised.value)
    assert "V{version}__{name}" in str(raised.value)


def test_version_beyond_i64_names_the_file(agent_package) -> None:
    package = agent_package({f"V{MAX_VERSION + 1}__too_big": "SELECT 1;"})
    with pytest.raises(InvalidMigrationError) as raised:
        load_migrations(package)
    assert f"V{MAX_VERSION + 1}__too_big" in str(raised.value)
    assert "64-bit" in str(raised.value)
    assert load_migrations(agent_package({f"V{MAX_VERSION}__largest": "SELECT 1;"}))[0].version == MAX_VERSION


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"version": -1, "name": "x", "sql": "SELECT 1;"}, "outside 0.."),
        ({"version": True, "name": "x", "sql": "SELECT 1;"}, "must be an int"),
        ({"version": 1, "name": "bad name", "sql": "SELECT 1;"}, "must match"),
        ({"version": 1, "name": "x", "sql": 42}, "must be a str or a callable"),
    ],
)
def test_invalid_migration_objects(kwargs, message: str) -> None:
    with pytest.raises(InvalidMigrationError, match=message):
        Migration(**kwargs)


def test_module_problems_surface_when_sql_is_needed(agent_package) -> None:
    package = agent_package(
        {
            "V1__no_function": "# defines no migration()\nx = 1\n",
            "V2__returns_bytes": "def migration():\n    return b'SELECT 1;'\n",
            "V3__import_fails": "raise RuntimeError('boom at import')\n",
            "V4__raises": "def migration(dialect):\n    raise ValueError('no ' + dialect)\n",
        }
    )
    no_function, returns_bytes, import_fails, raises = load_migrations(package)
    with pytest.raises(InvalidMigrationError, match="defines no migration"):
        no_function.sql("sqlite")
    with pytest.raises(InvalidMigrationError, match="must return the SQL as a str, got bytes"):
        returns_bytes.sql("sqlite")
    with pytest.raises(InvalidMigrationError, match="boom at import") as raised:
        import_fails.sql("sqlite")
    assert "V3__import_fails.py" in str(raised.value)
    with pytest.raises(InvalidMigrationError, match="no postgresql"):
        raises.sql("postgresql")


def test_rollback_and_transactional_flags_are_read_from_the_module(agent_package) -> None:
    package = agent_package(
        {
            "V1__plain": "SELECT 1;",
            "V2__special": "def migration():\n    return 'VACUUM;'\n\ndef rollback():\n    return 'SELECT 0;'\n\ntransactional = False\n",
        }
    )
    plain, special = load_migrations(package)
    assert plain.transactional and not plain.has_rollback and plain.rollback_sql("sqlite") is None
    assert not special.transactional and special.rollback_sql("sqlite") == "SELECT 0;"


def test_loads_from_a_zip_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "agent.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped_agent/__init__.py", "")
        zipped.writestr("zipped_agent/migrations/__init__.py", "")
        zipped.writestr("zipped_agent/migrations/V7__from_zip.py", "def migration():\n    return 'SELECT 7;'\n")
    monkeypatch.syspath_prepend(str(archive))
    try:
        (migration,) = load_migrations("zipped_agent.migrations")
        assert (migration.version, migration.name, migration.sql("sqlite")) == (7, "from_zip", "SELECT 7;")
        assert "agent.zip" in migration.source
    finally:
        for name in [m for m in sys.modules if m.startswith("zipped_agent")]:
            del sys.modules[name]


def test_missing_package_is_a_clear_error() -> None:
    with pytest.raises(InvalidMigrationError, match="could not be imported"):
        load_migrations("no_such_package_anywhere.migrations")
