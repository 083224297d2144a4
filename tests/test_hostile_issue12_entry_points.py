"""Hostile tests of discovery without importlib.metadata (issue 12): odd metadata files, read as importlib.metadata reads them.

:func:`~nocodo_agents.entry_point_scan.scan_group` may give up (``None``:
the caller asks :mod:`importlib.metadata`), but whenever it answers, the
answer must be exactly :mod:`importlib.metadata`'s: each test writes
distributions (``*.dist-info`` directories, as an installed wheel leaves
them) into the only directory on ``sys.path`` and compares.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from nocodo_agents.agent_entries import installed_agent_entries
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.entry_point_scan import scan_group
from nocodo_agents.errors import InstalledMetadataError, MigrationError
from nocodo_agents.hookspecs import ENTRY_POINT_GROUP

pytestmark = pytest.mark.skipif(sys.version_info < (3, 10), reason="the scan answers on Python 3.10 and later only")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The one directory on ``sys.path``."""
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.setattr(sys, "path", [str(directory)])
    yield directory


def distribution(site: Path, folder: str, metadata_text: str, entry_points: str) -> None:
    info = site / folder
    info.mkdir()
    (info / "METADATA").write_text(metadata_text, encoding="utf-8", newline="")
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8", newline="")


def importlib_answer() -> Any:
    """importlib.metadata's agents: (name, value, distribution, version) each, or the class of what it raises."""
    try:
        return [(e.name, e.value, e.dist.name, e.dist.version) for e in metadata.entry_points(group=ENTRY_POINT_GROUP)]
    except Exception as error:  # noqa: BLE001 - what it raises is its answer
        return type(error)


def scan_answer() -> list[tuple[str, str, Any, Any]]:
    scanned = scan_group(ENTRY_POINT_GROUP)
    assert scanned is not None, "the scan answers for plain directories"
    return [(e.name, e.value, e.distribution, e.version) for e in scanned]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e"])
def test_a_header_holding_a_line_separator_of_unicode_is_one_header(site: Path, separator: str) -> None:
    """``str.splitlines()`` splits at these; the e-mail parser reading ``METADATA`` does not."""
    distribution(
        site,
        "notes_agent-1.0.dist-info",
        f"Metadata-Version: 2.1\nSummary: notes{separator}Name: evil{separator}Version: 6.6.6\nName: notes-agent\n"
        "Version: 1.0\n\nA description.\n",
        "[nocodo_agents]\nnotes = notes_agent.plugin\n",
    )
    expected = [("notes", "notes_agent.plugin", "notes-agent", "1.0")]
    assert importlib_answer() == expected
    assert scan_answer() == expected
    [entry] = installed_agent_entries()
    assert (entry.distribution, entry.version) == ("notes-agent", "1.0")


def test_a_malformed_line_in_another_group_is_read_as_importlib_metadata_reads_it(site: Path) -> None:
    """importlib.metadata parses every group's lines: the scan must not answer where importlib.metadata fails."""
    distribution(
        site,
        "other-2.0.dist-info",
        "Metadata-Version: 2.1\nName: other\nVersion: 2.0\n",
        "[console_scripts]\nthis line has no equals sign\n",
    )
    distribution(
        site,
        "notes_agent-1.0.dist-info",
        "Metadata-Version: 2.1\nName: notes-agent\nVersion: 1.0\n",
        "[nocodo_agents]\nnotes = notes_agent.plugin\n",
    )
    assert importlib_answer() in (TypeError, ValueError)  # by version: unpacking, or Pair missing its value
    with pytest.raises(InstalledMetadataError) as raised:  # where importlib.metadata fails, a named error
        scan_group(ENTRY_POINT_GROUP)
    assert raised.value.distribution == "other" and raised.value.path == str(site / "other-2.0.dist-info" / "entry_points.txt")


@pytest.mark.installed_agents
def test_a_malformed_entry_points_file_is_a_named_error(site: Path, tmp_path: Path) -> None:
    distribution(
        site,
        "other-2.0.dist-info",
        "Metadata-Version: 2.1\nName: other\nVersion: 2.0\n",
        "[console_scripts]\nthis line has no equals sign\n",
    )
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    try:
        with pytest.raises(MigrationError) as raised:
            run_agent_migrations(conn)
        assert isinstance(raised.value, InstalledMetadataError) and raised.value.distribution == "other"
    finally:
        conn.close()


def test_a_dist_info_extension_in_capitals_is_named_as_importlib_metadata_names_it(site: Path) -> None:
    """``X.DIST-INFO``: importlib.metadata takes such a distribution's name from its METADATA, not from the folder.

    Here two folders of one name hold two distributions by their METADATA: importlib.metadata keeps both.
    """
    distribution(
        site,
        "notes_agent-1.0.DIST-INFO",
        "Metadata-Version: 2.1\nName: tags-agent\nVersion: 1.0\n",
        "[nocodo_agents]\ntags = tags_agent.plugin\n",
    )
    distribution(
        site,
        "notes_agent-1.0.dist-info",
        "Metadata-Version: 2.1\nName: notes-agent\nVersion: 1.0\n",
        "[nocodo_agents]\nnotes = notes_agent.plugin\n",
    )
    expected = importlib_answer()
    scanned = scan_group(ENTRY_POINT_GROUP)
    assert scanned is None or [(e.name, e.value, e.distribution, e.version) for e in scanned] == expected
    assert sorted(e.name for e in installed_agent_entries()) == sorted(name for name, *_ in expected)


@pytest.mark.parametrize(
    "entry_points",
    [
        "[nocodo_agents]\nnotes = notes_agent.plugin [extra]\n",
        "  [nocodo_agents]  \n  notes   =   notes_agent.plugin:obj.attr  \n# comment = x\n",
        "[nocodo_agents]\nnotes = a\n[other]\nx = y\n[nocodo_agents]\nnotes = b\n",
        "before = any section\n[NOCODO_AGENTS]\nshout = x\n[nocodo_agents]\nnotes=notes_agent.plugin#no comment\n",
        "[nocodo_agents]\r\nnotes = crlf\r\n",
    ],
)
def test_entry_points_files_read_as_importlib_metadata_reads_them(site: Path, entry_points: str) -> None:
    distribution(site, "notes_agent-1.0.dist-info", "Metadata-Version: 2.1\nName: notes-agent\nVersion: 1.0\n", entry_points)
    assert scan_answer() == importlib_answer()
