"""The registry's cache, through its public API: what a long-running process sees change.

``AgentRegistry.installed()`` is the one process-wide state: scanned once,
scanned again when a distribution is installed or uninstalled (a directory
of ``sys.path`` changes), dropped by ``AgentRegistry.clear_installed()``.
Every registry lists an agent's migrations package again when a file was
added, removed or renamed in it (an agent being developed in an editable
install), and otherwise asks no agent twice.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import site_on_sys_path, sql_module, write_agent_distribution
from conftest import _module_with, history

from nocodo_agents import PluginLoadError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentEntry, AgentRegistry
from nocodo_agents.plugins import hookimpl, load_migrations

NOTES = "CREATE TABLE notes (id INTEGER PRIMARY KEY);"
TAGS = "CREATE TABLE tags (id INTEGER PRIMARY KEY);"
AN_HOUR_AGO_NS = (time.time_ns() - 3600 * 10**9,) * 2


def settle(*directories: Path) -> None:
    """Date ``directories`` an hour back, as if nobody had touched them for a while."""
    for directory in directories:
        os.utime(directory, ns=AN_HOUR_AGO_NS)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on ``sys.path`` that agent distributions are installed into."""
    yield from site_on_sys_path(tmp_path, monkeypatch)


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "agents.sqlite")
    yield conn
    conn.close()


def counting_plugin(package: str, calls: list[int]) -> object:
    @hookimpl
    def nocodo_agents_migrations():  # type: ignore[no-untyped-def]
        calls.append(1)
        return load_migrations(package)

    return _module_with(nocodo_agents_migrations)


@pytest.mark.installed_agents
def test_clear_installed_drops_the_cached_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from nocodo_agents import discovery

    scans: list[int] = []
    monkeypatch.setattr(discovery, "installed_agent_entries", lambda: scans.append(1) or [])
    first = AgentRegistry.installed()
    assert AgentRegistry.installed() is first and scans == [1]
    AgentRegistry.clear_installed()
    assert AgentRegistry.installed() is not first and scans == [1, 1]


@pytest.mark.installed_agents
def test_a_sys_path_directory_modified_just_now_is_scanned_at_every_call_until_it_settles(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within one tick of the file system's clock an install can leave a directory's time unmoved: scan again."""
    from nocodo_agents import discovery

    scans: list[int] = []
    monkeypatch.setattr(discovery, "installed_agent_entries", lambda: scans.append(1) or [])
    os.utime(site, ns=(time.time_ns(),) * 2)  # modified just now
    AgentRegistry.installed()
    AgentRegistry.installed()
    assert scans == [1, 1], "a fresh directory is no stamp"
    settle(site)
    settled = AgentRegistry.installed()
    assert scans == [1, 1, 1], "the first settled stamp differs from no stamp"
    assert AgentRegistry.installed() is settled and scans == [1, 1, 1], "then cached, one stat per directory"


@pytest.mark.installed_agents
def test_a_distribution_installed_or_uninstalled_while_running_is_seen(
    site: Path, connection: sqlite3.Connection
) -> None:
    settle(site)
    before = AgentRegistry.installed()
    assert "notes" not in before.agent_names()
    write_agent_distribution(site, "notes-agent", "notes", "notes_agent", {"V100__create_notes": sql_module(NOTES)})
    assert "notes" in AgentRegistry.installed().agent_names(), "installing changed a sys.path directory"
    assert run_agent_migrations(connection, agents=["notes"]).versions == (1, 2, 3, 100)
    settle(site)
    shutil.rmtree(site / "notes_agent-1.0.dist-info")
    assert "notes" not in AgentRegistry.installed().agent_names(), "uninstalling too"


@pytest.mark.installed_agents
def test_a_migration_added_to_an_installed_agent_is_applied_by_the_next_run(
    site: Path, connection: sqlite3.Connection
) -> None:
    """An agent installed in editable mode, edited while the application runs: no restart, no clear."""
    write_agent_distribution(site, "notes-agent", "notes", "notes_agent", {"V100__create_notes": sql_module(NOTES)})
    settle(site, site / "notes_agent" / "migrations")
    assert run_agent_migrations(connection, agents=["notes"]).versions == (1, 2, 3, 100)
    cached = AgentRegistry.installed()
    (site / "notes_agent" / "migrations" / "V101__create_tags.py").write_text(sql_module(TAGS))
    assert run_agent_migrations(connection, agents=["notes"]).versions == (101,)
    assert AgentRegistry.installed() is cached, "the same registry, its notes set listed again"
    (site / "notes_agent" / "migrations" / "V101__create_tags.py").unlink()
    report = run_agent_migrations(connection, agents=["notes"])
    assert report.versions == () and [row.version for row in report.not_installed] == [101]
    assert [row[0] for row in history(connection)] == [1, 2, 3, 100, 101]


def test_an_unchanged_package_is_not_listed_again(agent_package, connection: sqlite3.Connection) -> None:
    package = agent_package({"V100__create_notes": NOTES})
    directory = Path(load_migrations(package)[0].source).parent
    settle(directory, *directory.glob("V*"))
    calls: list[int] = []
    registry = AgentRegistry.from_plugins({"notes": counting_plugin(package, calls)})
    first = registry.migration_set("notes")
    assert run_agent_migrations(connection, agents=["notes"], registry=registry).versions == (1, 2, 3, 100)
    assert registry.migration_set("notes") is first and calls == [1], "one stat, no second listing"
    (directory / "V101__create_tags.py").write_text(sql_module(TAGS))
    assert [m.version for m in registry.migration_set("notes").migrations] == [100, 101]
    assert calls == [1, 1]
    (directory / "V101__create_tags.py").rename(directory / "V102__create_tags.py")
    assert [m.version for m in registry.migration_set("notes").migrations] == [100, 102]


def test_a_package_modified_just_now_is_listed_at_every_call(agent_package) -> None:
    """Within one tick of the file system's clock a directory can change unseen: until it settles, list it again."""
    package = agent_package({"V100__create_notes": NOTES})
    calls: list[int] = []
    registry = AgentRegistry.from_plugins({"notes": counting_plugin(package, calls)})
    registry.migration_set("notes")
    directory = Path(registry.migration_set("notes").migrations[0].source).parent
    (directory / "V101__create_tags.py").write_text(sql_module(TAGS))  # most likely within the same tick
    assert [m.version for m in registry.migration_set("notes").migrations] == [100, 101]
    assert len(calls) == 3


def test_a_broken_file_added_later_fails_every_run_until_fixed(agent_package) -> None:
    package = agent_package({"V100__create_notes": NOTES})
    registry = AgentRegistry.from_plugins({"notes": counting_plugin(package, [])})
    directory = Path(registry.migration_set("notes").migrations[0].source).parent
    (directory / "V101_missing_underscore.py").write_text(sql_module(TAGS))
    for _ in range(2):
        with pytest.raises(PluginLoadError) as raised:
            registry.migration_set("notes")
        assert "V101_missing_underscore.py" in str(raised.value) and "rename it to V101__missing_underscore.py" in str(raised.value)
    (directory / "V101_missing_underscore.py").rename(directory / "V101__missing_underscore.py")
    assert [m.version for m in registry.migration_set("notes").migrations] == [100, 101]


def test_migrations_not_from_load_migrations_are_asked_for_once() -> None:
    from nocodo_agents import Migration

    calls: list[int] = []

    @hookimpl
    def nocodo_agents_migrations():  # type: ignore[no-untyped-def]
        calls.append(1)
        return [Migration(100, "notes", NOTES)]

    registry = AgentRegistry([AgentEntry("notes", "notes-agent", "1.0", "notes", lambda: _module_with(nocodo_agents_migrations))])
    assert registry.migration_set("notes") is registry.migration_set("notes") and calls == [1]


def test_requested_sets_are_given_again_until_a_file_of_any_of_them_changes(agent_package) -> None:
    """The answer for the same agents is kept with every set's directories and files: one stat each, no lookup."""
    notes_package = agent_package({"V100__create_notes": NOTES})
    tags_package = agent_package({"V50__create_tags": TAGS})
    directories = [Path(load_migrations(package)[0].source).parent for package in (notes_package, tags_package)]
    for directory in directories:
        settle(directory, *directory.glob("V*"))
    notes_calls: list[int] = []
    tags_calls: list[int] = []
    registry = AgentRegistry.from_plugins(
        {"notes": counting_plugin(notes_package, notes_calls), "tags": counting_plugin(tags_package, tags_calls)}
    )
    first = registry.requested_sets(["notes", "tags"])
    again = registry.requested_sets(["notes", "tags"])
    assert again == first and all(a is b for a, b in zip(again, first)) and again is not first
    assert (notes_calls, tags_calls) == ([1], [1])
    assert [s.agent for s in registry.requested_sets(["tags"])] == ["core", "tags"], "other agents: another answer"
    with open(directories[1] / "V50__create_tags.py", "a") as file:  # edited in place: only the file's time moves
        file.write("\n# edited\n")
    settle(directories[1])
    two_hours_ago = time.time_ns() - 7200 * 10**9  # settled, at another time than before the edit
    os.utime(directories[1] / "V50__create_tags.py", ns=(two_hours_ago, two_hours_ago))
    changed = registry.requested_sets(["notes", "tags"])
    assert (notes_calls, tags_calls) == ([1], [1, 1]) and changed[1] is first[1] and changed[2] is not first[2]
    assert registry.requested_sets(["notes", "tags"])[2] is changed[2] and tags_calls == [1, 1]
