"""The checksum equals refinery's (values computed with Rust's siphasher crate)."""

import importlib

import pytest

from nocodo_agents.database.migrations import checksum
from nocodo_agents.migration import Migration


@pytest.mark.parametrize(
    "name, version, sql, expected",
    [
        ("initial", 1, "CREATE TABLE persons (id int, name varchar(255), city varchar(255));", 9011118159008407467),
        ("create_agent_sessions", 1, "", 4523238988068670726),
        ("add_cars_table", 2, "CREATE TABLE cars (id int);\n", 400329894133636591),
    ],
)
def test_known_refinery_checksums(name: str, version: int, sql: str, expected: int) -> None:
    assert checksum(name, version, sql) == expected


def test_checksum_is_unsigned_64_bit_and_depends_on_every_part() -> None:
    base = checksum("a", 1, "x")
    assert 0 <= base < 2**64
    assert len({base, checksum("b", 1, "x"), checksum("a", 2, "x"), checksum("a", 1, "y")}) == 4


def test_checksum_handles_every_tail_length_and_non_ascii() -> None:
    values = {checksum("n", 7, "é" * i) for i in range(20)}
    assert len(values) == 20


def test_migration_checksum_uses_the_dialect_sql() -> None:
    migration = Migration(2, "add_cars_table", lambda dialect: "CREATE TABLE cars (id int);\n")
    assert migration.checksum("sqlite") == 400329894133636591


def test_a_remembered_checksum_is_the_one_computed_and_a_bool_version_is_still_refused() -> None:
    """Checksums are remembered per process (``checksum._REMEMBERED``); a hit answers exactly what hashing answers."""
    module = importlib.import_module("nocodo_agents.checksum")
    from nocodo_agents.errors import InvalidArgumentError

    module._REMEMBERED.clear()
    computed = checksum("initial", 1, "CREATE TABLE persons (id int, name varchar(255), city varchar(255));")
    assert computed == 9011118159008407467
    assert checksum("initial", 1, "CREATE TABLE persons (id int, name varchar(255), city varchar(255));") == computed
    with pytest.raises(InvalidArgumentError):
        checksum("initial", True, "CREATE TABLE persons (id int, name varchar(255), city varchar(255));")  # True == 1
    assert checksum("initial", 1, "CREATE TABLE persons (id int, name varchar(255), city varchar(255));", True) != computed


def test_the_remembered_checksums_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("nocodo_agents.checksum")

    monkeypatch.setattr(module, "_REMEMBER_AT_MOST", 10)
    module._REMEMBERED.clear()
    for version in range(25):
        assert checksum("bounded", version, "SELECT 1") == module._siphash13(
            b"bounded\xff" + version.to_bytes(4, "little", signed=True) + b"SELECT 1\xff"
        )
        assert len(module._REMEMBERED) <= 10
