"""Checksums hashed side by side (128-bit lanes of one integer) equal those hashed one by one, and refinery's."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nocodo_agents import InvalidArgumentError, InvalidMigrationError
from nocodo_agents.checksum import _REMEMBERED, _siphash13, _siphash13_many, checksum, checksums
from nocodo_agents.migration import Migration, prime_checksums

#: Values computed with Rust's siphasher crate (as in tests/test_checksum.py).
REFINERY = [
    ("initial", 1, "CREATE TABLE persons (id int, name varchar(255), city varchar(255));", 9011118159008407467),
    ("create_agent_sessions", 1, "", 4523238988068670726),
    ("add_cars_table", 2, "CREATE TABLE cars (id int);\n", 400329894133636591),
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=70), max_size=40), st.integers(min_value=0, max_value=30))
def test_texts_hashed_side_by_side_equal_those_hashed_one_by_one(texts: list[bytes], repeated: int) -> None:
    # Many texts of one length class run as lanes; a handful (fewer than 4) one by one: both ways are drawn here.
    texts = texts + [b"x" * 17] * repeated
    assert _siphash13_many(texts) == [_siphash13(text) for text in texts]


@pytest.mark.parametrize("lanes", [1, 3, 4, 5, 64, 300])
def test_every_length_up_to_five_blocks_with_any_number_of_lanes(lanes: int) -> None:
    batch = [bytes([lane % 251, length]) * (length // 2) + b"!" * (length % 2) for lane in range(lanes) for length in range(40)]
    assert _siphash13_many(batch) == [_siphash13(text) for text in batch]


def test_checksums_equal_refinerys_whether_remembered_or_not() -> None:
    _REMEMBERED.clear()
    many = [(name, version, sql, False) for name, version, sql, _ in REFINERY] * 3
    assert checksums(many) == [expected for *_, expected in REFINERY] * 3
    assert checksums(many) == [expected for *_, expected in REFINERY] * 3, "remembered now"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(max_size=12), st.integers(min_value=-(2**31), max_value=2**31 - 1), st.text(max_size=60), st.booleans()),
        max_size=30,
    )
)
def test_checksums_equal_checksum_one_by_one(migrations: list[tuple[str, int, str, bool]]) -> None:
    _REMEMBERED.clear()
    batched = checksums(migrations)
    _REMEMBERED.clear()
    assert batched == [checksum(*migration) for migration in migrations]


def test_a_version_that_does_not_fit_is_refused_before_anything_is_hashed() -> None:
    _REMEMBERED.clear()
    with pytest.raises(InvalidArgumentError, match="int8_versions=True"):
        checksums([("a", 1, "x", False), ("b", 2**31, "y", False)])
    assert not _REMEMBERED


def test_primed_migrations_answer_what_they_would_have_computed() -> None:
    _REMEMBERED.clear()
    migrations = [Migration(version, name, sql) for name, version, sql, _ in REFINERY] + [
        Migration(100 + i, f"t_{i}", f"CREATE TABLE t_{i} (id INTEGER)") for i in range(50)
    ]
    for migration in migrations:
        migration.sql("sqlite")  # only SQL already produced is primed: producing it may run the author's code
    prime_checksums(migrations, "sqlite")
    assert all(("sqlite", False) in migration._checksums for migration in migrations), "all primed"
    primed = [migration.checksum("sqlite") for migration in migrations]
    _REMEMBERED.clear()
    fresh = [Migration(m.version, m.name, m.sql("sqlite")).checksum("sqlite") for m in migrations]
    assert primed == fresh
    assert primed[:3] == [expected for *_, expected in REFINERY]


def test_priming_leaves_a_migration_it_cannot_hash_to_its_own_call_which_raises_its_error() -> None:
    def broken() -> str:
        raise RuntimeError("the plugin's SQL could not be built")

    good = [Migration(100 + i, f"t_{i}", f"CREATE TABLE t_{i} (id INTEGER)") for i in range(5)]
    bad = Migration(200, "broken", broken)
    prime_checksums([*good, bad], "sqlite")
    assert [migration.checksum("sqlite") for migration in good] == [checksum(m.name, m.version, m.sql("sqlite")) for m in good]
    with pytest.raises(InvalidMigrationError, match="could not be built"):
        bad.checksum("sqlite")


def test_priming_with_a_version_too_wide_for_the_encoding_primes_nothing_and_each_call_says_so() -> None:
    wide = Migration(2**31, "wide", "CREATE TABLE w (id INTEGER)")
    narrow = [Migration(100 + i, f"t_{i}", f"CREATE TABLE t_{i} (id INTEGER)") for i in range(3)]
    for migration in [*narrow, wide]:
        migration.sql("sqlite")
    prime_checksums([*narrow, wide], "sqlite", int8_versions=False)
    with pytest.raises(InvalidArgumentError):
        wide.checksum("sqlite")
    assert narrow[0].checksum("sqlite") == checksum("t_0", 100, "CREATE TABLE t_0 (id INTEGER)")
    prime_checksums([*narrow, wide], "sqlite", int8_versions=True)
    assert wide.checksum("sqlite", True) == checksum("wide", 2**31, "CREATE TABLE w (id INTEGER)", True)


def test_priming_produces_no_sql_so_the_authors_code_runs_once_in_its_place() -> None:
    """A migration whose SQL was not produced is not hashed here: its function runs at its own checksum() call, once."""
    calls: list[int] = []

    def counted() -> str:
        calls.append(1)
        raise RuntimeError("the plugin's SQL could not be built")

    bad = Migration(200, "broken", counted)
    good = [Migration(100 + i, f"t_{i}", f"CREATE TABLE t_{i} (id INTEGER)") for i in range(3)]
    prime_checksums([*good, bad], "sqlite")
    assert calls == [] and not any(migration._checksums for migration in good), "nothing produced, nothing hashed"
    with pytest.raises(InvalidMigrationError, match="could not be built"):
        bad.checksum("sqlite")
    assert calls == [1]
