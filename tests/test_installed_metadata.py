"""An installed distribution's unreadable metadata is an ``InstalledMetadataError``, never a bare error (issue 12).

Finding the agents reads every installed distribution's ``entry_points.txt``
(agent or not) and the ``METADATA`` of those providing an agent. One bad file
makes :mod:`importlib.metadata` raise a bare ``TypeError``, ``ValueError`` or
``UnicodeDecodeError``; here each such file is a named error giving the
distribution, the file, what is wrong and the ``pip`` commands repairing it,
on both ways of reading: the scan of :mod:`nocodo_agents.entry_point_scan`
and :mod:`importlib.metadata` (which the scan leaves the answer to where it
cannot be sure, here because of a ``.DIST-INFO`` folder beside the others),
in-process and through the console script (exit 1).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Cli, sql_module, write_agent_distribution

from nocodo_agents import InstalledMetadataError
from nocodo_agents.agent_entries import installed_agent_entries
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.entry_point_scan import scan_group
from nocodo_agents.hookspecs import ENTRY_POINT_GROUP

pytestmark = pytest.mark.skipif(sys.version_info < (3, 10), reason="the scan answers on Python 3.10 and later only")

NOTES = "CREATE TABLE notes (id INTEGER PRIMARY KEY);"
PATHS = ["scan", "importlib.metadata"]


def other_distribution(site: Path, entry_points: bytes) -> Path:
    """An unrelated distribution (no agent) with this ``entry_points.txt``; returns its folder."""
    info = site / "other-2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: other\nVersion: 2.0\n")
    (info / "entry_points.txt").write_bytes(entry_points)
    return info


def take(site: Path, path: str) -> None:
    """Make discovery read ``site`` by ``path``: a ``.DIST-INFO`` folder makes the scan leave it to importlib.metadata."""
    if path == "importlib.metadata":
        info = site / "shouting-1.0.DIST-INFO"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shouting\nVersion: 1.0\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The one directory on ``sys.path``, holding the agent distribution ``notes-agent``."""
    directory = tmp_path / "site"
    directory.mkdir()
    write_agent_distribution(directory, "notes-agent", "notes", "notes_agent", {"V100__create_notes": sql_module(NOTES)})
    monkeypatch.setattr(sys, "path", [str(directory), *sys.path])
    yield directory
    for name in [m for m in sys.modules if m.startswith("notes_agent")]:
        del sys.modules[name]


def discovery_error(site: Path, path: str) -> InstalledMetadataError:
    """What listing the installed agents raises, having checked the path it went by."""
    if path == "importlib.metadata":
        assert scan_group(ENTRY_POINT_GROUP) is None
    with pytest.raises(InstalledMetadataError) as raised:
        installed_agent_entries()
    return raised.value


@pytest.mark.parametrize("path", PATHS)
def test_a_line_without_equals_in_an_unrelated_distribution_is_named(site: Path, path: str) -> None:
    info = other_distribution(site, b"[console_scripts]\nother = other.cli:main\nthis line has no equals sign\n")
    take(site, path)
    error = discovery_error(site, path)
    assert (error.distribution, error.version, error.path) == ("other", "2.0", str(info / "entry_points.txt"))
    assert "line 3" in error.problem and "'this line has no equals sign'" in error.problem
    assert (error.uninstall, error.install) == ("pip uninstall other", "pip install 'other==2.0'")
    message = str(error)
    assert "pip uninstall other, then pip install 'other==2.0'" in message and f"delete the folder {info}" in message
    if path == "importlib.metadata":
        assert isinstance(error.__cause__, (TypeError, ValueError)), "what importlib.metadata raised, kept as the cause"


@pytest.mark.parametrize("path", PATHS)
def test_an_entry_points_file_not_in_utf8_is_named(site: Path, path: str) -> None:
    info = other_distribution(site, b"[console_scripts]\nother = caf\xe9:main\n")
    take(site, path)
    error = discovery_error(site, path)
    assert (error.distribution, error.path) == ("other", str(info / "entry_points.txt"))
    assert "entry_points.txt is not UTF-8 text" in error.problem and "\\xe9" in error.problem


def test_an_agent_metadata_not_in_utf8_is_named(site: Path) -> None:
    """The scan leaves such a file to importlib.metadata, which raises UnicodeDecodeError on it."""
    metadata = site / "notes_agent-1.0.dist-info" / "METADATA"
    metadata.write_bytes(b"Metadata-Version: 2.1\nName: notes-agent\nSummary: caf\xe9\nVersion: 1.0\n")
    error = discovery_error(site, "importlib.metadata")
    assert (error.distribution, error.version, error.path) == ("notes_agent", "1.0", str(metadata))
    assert "METADATA is not UTF-8 text" in error.problem
    assert isinstance(error.__cause__, UnicodeDecodeError)


def test_an_agent_without_metadata_is_named(site: Path) -> None:
    """importlib.metadata names such a distribution ``None``: no agent is listed from an unnamed distribution."""
    info = site / "notes_agent-1.0.dist-info"
    (info / "METADATA").unlink()
    error = discovery_error(site, "importlib.metadata")
    assert (error.distribution, error.version, error.path) == ("notes_agent", "1.0", str(info))
    assert error.problem == "it has no METADATA file (nor PKG-INFO)"


def test_an_agent_metadata_without_a_name_is_named(site: Path) -> None:
    metadata = site / "notes_agent-1.0.dist-info" / "METADATA"
    metadata.write_text("Metadata-Version: 2.1\nVersion: 1.0\n")
    error = discovery_error(site, "importlib.metadata")
    assert (error.distribution, error.path) == ("notes_agent", str(metadata))
    assert "names no distribution" in error.problem


@pytest.mark.installed_agents
@pytest.mark.parametrize("path", PATHS)
def test_a_run_on_the_installed_agents_raises_it(site: Path, tmp_path: Path, path: str) -> None:
    other_distribution(site, b"[console_scripts]\nno equals here\n")
    take(site, path)
    conn = sqlite3.connect(tmp_path / "app.sqlite")
    try:
        with pytest.raises(InstalledMetadataError) as raised:
            run_agent_migrations(conn)
        assert raised.value.distribution == "other"
        assert run_agent_migrations(conn, registry=AgentRegistry.from_plugins({})).versions == (1, 2, 3), "nothing else broken"
    finally:
        conn.close()


# -- through the console script -------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    (tmp_path / "cli_site").mkdir()
    (tmp_path / "work").mkdir()
    cli = Cli(tmp_path / "work", tmp_path / "cli_site")
    write_agent_distribution(cli.site, "notes-agent", "notes", "notes_agent", {"V100__create_notes": sql_module(NOTES)})
    return cli


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("command", [("migrate",), ("agents",), ("status",)])
def test_the_console_script_names_the_distribution_and_exits_1(cli: Cli, path: str, command: tuple) -> None:
    info = other_distribution(cli.site, b"[console_scripts]\nthis line has no equals sign\n")
    take(cli.site, path)
    result = cli(*command)
    assert result.code == 1, result.text
    assert "Traceback" not in result.err and "TypeError" not in result.err and "ValueError" not in result.err
    assert "nocodo-agents: error: the installed metadata of distribution other 2.0" in result.err
    assert str(info / "entry_points.txt") in result.err and "'this line has no equals sign'" in result.err
    assert "pip uninstall other, then pip install 'other==2.0'" in result.err


def test_the_console_script_names_an_agent_metadata_not_in_utf8(cli: Cli) -> None:
    metadata = cli.site / "notes_agent-1.0.dist-info" / "METADATA"
    metadata.write_bytes(b"Metadata-Version: 2.1\nName: notes-agent\nSummary: caf\xe9\nVersion: 1.0\n")
    result = cli("migrate")
    assert result.code == 1, result.text
    assert "Traceback" not in result.err and "UnicodeDecodeError" not in result.err
    assert str(metadata) in result.err and "METADATA is not UTF-8 text" in result.err
