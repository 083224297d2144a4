"""Widening over rows of agents that are installed but not requested: verified and re-recorded, their agents loaded for it.

A database opened for years with ``small`` (V4) and now with ``notes`` alone
(a timestamp version) must widen: ``small`` is installed, so its row is
verified and re-recorded like the requested ones, loading ``small`` through
the registry (and only it, only then). Its divergent row stops the widening
naming it; a broken ``small`` is its usual ``PluginLoadError``; rows no
installed agent provides still refuse. On a SQLite file and the private
PostgreSQL and MariaDB servers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import plugin_for, registry_of
from int8_support import REFINERY_APPLIED_ON, TIMESTAMP, Db, call, db_for, expected_checksum, widen_by_hand_keeping_32_bit_checksums

from nocodo_agents import DivergentMigrationError, HistoryWideningError, PluginLoadError
from nocodo_agents.checksum import checksum
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentEntry, AgentRegistry
from nocodo_agents.lifecycle import verify_database, widen_history
from nocodo_agents.loading import load_migrations
from nocodo_agents.status import NEEDS_RERECORDING, migration_status

CORE = "nocodo_agents.database.migrations"


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    return db_for(request, tmp_path)


@pytest.fixture
def small(agent_package) -> str:
    return agent_package({"V4__create_small": "CREATE TABLE small (id INT)"})


@pytest.fixture
def notes(agent_package) -> str:
    return agent_package({f"V{TIMESTAMP}__create_notes": "CREATE TABLE notes (id INT)"})


class Installed:
    """A registry of agents given as packages (or ``None``: an agent whose import fails), counting the imports."""

    def __init__(self, **agents: str | None) -> None:
        self.imported: list[str] = []
        self.registry = AgentRegistry(self._entry(name, package) for name, package in agents.items())

    def _entry(self, name: str, package: str | None) -> AgentEntry:
        def load() -> object:
            self.imported.append(name)
            if package is None:
                raise ImportError(f"No module named '{name}_dependency'")
            return plugin_for(package)

        return AgentEntry(name, f"{name}-agent", "1.0", f"{name}_agent.plugin", load)


def checksums_are_int8(db: Db, *packages: str) -> None:
    """Every history row holds its migration's checksum in the i64 encoding."""
    by_version = {m.version: m for package in (CORE, *packages) for m in load_migrations(package)}
    for version, name, stored, _ in db.history():
        assert stored == expected_checksum(by_version[version], db.dialect, True), (version, name, "not the i64 encoding")


@pytest.mark.parametrize("attributed", [True, False], ids=["row of small", "row refinery wrote"])
def test_a_timestamp_agent_requested_alone_widens_over_rows_of_agents_installed_but_not_requested(
    db: Db, small: str, notes: str, agent_package, attributed: bool
) -> None:
    call(db, run_agent_migrations, registry=registry_of(small=small))
    if not attributed:  # as refinery (the Rust crate) records it: no agent
        db.run("UPDATE refinery_schema_history SET agent = NULL WHERE version = 4")
    bystander = agent_package({"V7__create_bystander": "CREATE TABLE bystander (id INT)"})
    installed = Installed(small=small, notes=notes, bystander=bystander)
    report = call(db, run_agent_migrations, agents=["notes"], registry=installed.registry)
    assert report.versions == (TIMESTAMP,)
    assert [r.version for r in report.not_installed] == [4], "still reported: not requested"
    assert db.is_64_bit(), db.version_type()
    checksums_are_int8(db, small, notes)
    assert [(v, a) for v, _, _, a in db.history()] == [
        (1, "core"), (2, "core"), (3, "core"), (4, "small" if attributed else None), (TIMESTAMP, "notes"),
    ], "re-recording changes no row's agent"
    # small's row names its agent: only small is loaded for it; a row without agent may be anyone's.
    assert sorted(installed.imported) == (["notes", "small"] if attributed else ["bystander", "notes", "small"])
    assert call(db, verify_database, agents=["small", "notes"], registry=installed.registry).divergent == ()
    assert [r.state for r in call(db, migration_status, agents=["small"], registry=installed.registry)] == ["applied"] * 4 + [
        "applied-not-installed"
    ]
    assert call(db, run_agent_migrations, agents=["notes"], registry=installed.registry).applied == ()


def test_widen_history_re_records_rows_of_agents_not_requested(db: Db, small: str) -> None:
    call(db, run_agent_migrations, registry=registry_of(small=small))
    installed = Installed(small=small)
    report = call(db, widen_history, agents=[], registry=installed.registry)
    assert report.widened and [r.version for r in report.rerecorded] == [1, 2, 3, 4] and report.kept == ()
    assert installed.imported == ["small"]
    assert db.is_64_bit()
    checksums_are_int8(db, small)


def test_a_divergent_row_of_an_agent_not_requested_stops_the_widening_naming_it(db: Db, small: str, notes: str) -> None:
    call(db, run_agent_migrations, registry=registry_of(small=small))
    db.run(f"UPDATE refinery_schema_history SET checksum = '{checksum('create_small', 4, 'edited')}' WHERE version = 4")
    before = db.history()
    registry = registry_of(small=small, notes=notes)
    for operation, kwargs in ((run_agent_migrations, {"agents": ["notes"]}), (widen_history, {"agents": [], "keep_unverified": True})):
        with pytest.raises(DivergentMigrationError) as raised:
            call(db, operation, registry=registry, **kwargs)
        error = raised.value
        assert (error.version, error.agent, error.recorded_agent) == (4, "small", "small")
        assert "agent 'small'" in str(error)
        assert db.history() == before and not db.is_64_bit(), "stopped before anything changed"


def test_an_agent_not_requested_is_loaded_only_to_widen_and_a_broken_one_says_so(db: Db, small: str, notes: str, agent_package) -> None:
    call(db, run_agent_migrations, registry=registry_of(small=small))
    before = db.history()
    more = agent_package({"V5__create_more": "CREATE TABLE more_rows (id INT)"})
    installed = Installed(small=None, notes=notes, more=more)  # small's distribution is broken now
    # Runs that do not widen never import small: the no-op path, and a 32-bit version applied.
    assert call(db, run_agent_migrations, agents=[], registry=installed.registry).applied == ()
    assert call(db, run_agent_migrations, agents=["more"], registry=installed.registry).versions == (5,)
    assert installed.imported == ["more"] and not db.is_64_bit()
    with pytest.raises(PluginLoadError) as raised:
        call(db, run_agent_migrations, agents=["notes"], registry=installed.registry)
    assert (raised.value.agent, raised.value.distribution) == ("small", "small-agent")
    assert "small_dependency" in str(raised.value)
    assert db.history()[:4] == before and not db.is_64_bit(), "nothing changed"


def test_rows_no_installed_agent_provides_still_refuse_the_widening(db: Db, small: str, notes: str) -> None:
    call(db, run_agent_migrations, registry=registry_of(small=small))
    db.run(  # a Rust application's own migration, and one of the same version small does not name so
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES "
        f"(50, 'rust_side', '{REFINERY_APPLIED_ON}', '{checksum('rust_side', 50, 'SELECT 1')}')"
    )
    before = db.history()
    other = Installed(small=small, notes=notes)
    with pytest.raises(HistoryWideningError) as raised:
        call(db, run_agent_migrations, agents=["notes"], registry=other.registry)
    assert raised.value.rows == ((50, "rust_side", None),), "small's V4 is verifiable: only V50 is not"
    assert "no installed agent provides V50__rust_side" in str(raised.value)
    assert db.history() == before and not db.is_64_bit()
    report = call(db, widen_history, agents=["notes"], registry=other.registry, keep_unverified=True)
    assert [r.version for r in report.rerecorded] == [1, 2, 3, 4] and [r.version for r in report.kept] == [50]
    assert {v: c for v, _, c, _ in db.history()}[50] == str(checksum("rust_side", 50, "SELECT 1")), "kept as it was"


def test_a_64_bit_history_re_records_the_32_bit_checksums_of_agents_not_requested_too(db: Db, small: str, notes: str) -> None:
    """The sibling: a 64-bit history still holding 32-bit checksums (a MySQL widening stopped between its two steps).
    The next run that changes anything re-records them, also those of installed agents it did not request."""
    call(db, run_agent_migrations, registry=registry_of(small=small))
    widen_by_hand_keeping_32_bit_checksums(db)
    installed = Installed(small=small, notes=notes)
    assert call(db, run_agent_migrations, agents=[], registry=installed.registry).applied == ()
    assert installed.imported == [], "the no-op path loads no agent"
    rows = call(db, migration_status, agents=["small"], registry=installed.registry)
    assert [r.state for r in rows] == [NEEDS_RERECORDING] * 4
    assert call(db, run_agent_migrations, agents=["notes"], registry=installed.registry).versions == (TIMESTAMP,)
    checksums_are_int8(db, small, notes)
    assert [r.state for r in call(db, migration_status, agents=["small"], registry=installed.registry)] == ["applied"] * 4 + [
        "applied-not-installed"
    ]


def test_a_row_refinery_wrote_under_another_name_is_not_an_unrequested_agents(db: Db, small: str, notes: str) -> None:
    """A row without agent whose version an unrequested agent provides under another name is more likely a Rust
    application's own migration than that agent's edited file: unverifiable (kept on request), not divergent."""
    call(db, run_agent_migrations, registry=registry_of(small=small))
    db.run(
        f"UPDATE refinery_schema_history SET agent = NULL, name = 'rust_side', checksum = '{checksum('rust_side', 4, 'SELECT 1')}' "
        "WHERE version = 4"
    )
    registry = registry_of(small=small, notes=notes)
    with pytest.raises(HistoryWideningError) as raised:
        call(db, run_agent_migrations, agents=["notes"], registry=registry)
    assert raised.value.rows == ((4, "rust_side", None),)
    report = call(db, widen_history, agents=["notes"], registry=registry, keep_unverified=True)
    assert [r.version for r in report.kept] == [4] and [r.version for r in report.rerecorded] == [1, 2, 3]
