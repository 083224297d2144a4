"""The install hint of a missing agent, read from broken installed metadata: a guess, never a bare error.

A missing agent's error carries the ``pip install`` most likely to provide it,
read from the requiring distribution's ``Requires-Dist`` and nocodo-agents'
extras. Each test here installs a real, broken ``*.dist-info`` (a
``METADATA`` that is not UTF-8, malformed requirements, no ``Name``, a
``METADATA`` that is a directory) in a directory put first on ``sys.path``;
the error still arrives as :class:`RequiredAgentMissingError` or
:class:`UnknownAgentError`, its hint a guess where the metadata could not
tell.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nocodo_agents.agent_entries import AgentEntry
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.errors import RequiredAgentMissingError, UnknownAgentError
from nocodo_agents.install_hints import install_hint, required_agent_install_hint
from nocodo_agents.plugins import hookimpl

GUESS = ("pip install nocodo-agents-notes", True)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.setattr(sys, "path", [str(directory), *sys.path])
    yield directory


def distribution(site: Path, folder: str, metadata: bytes) -> Path:
    info = site / folder
    info.mkdir()
    (info / "METADATA").write_bytes(metadata)
    return info


def test_a_requiring_distribution_whose_metadata_is_not_utf8_gives_the_guess(site: Path) -> None:
    distribution(site, "tasks_dist-1.0.dist-info", b"Metadata-Version: 2.1\nName: tasks-dist\nRequires-Dist: caf\xe9-notes\n")
    assert required_agent_install_hint("notes", "tasks-dist") == GUESS


def test_malformed_requirements_are_skipped_and_a_well_formed_one_is_named(site: Path) -> None:
    distribution(
        site,
        "tasks_dist-1.0.dist-info",
        b"Metadata-Version: 2.1\nName: tasks-dist\nVersion: 1.0\nRequires-Dist: \nRequires-Dist: ;;;\n"
        b"Requires-Dist: [broken\nRequires-Dist: notes-agent>=1 ; python_version >= '3'\n",
    )
    assert required_agent_install_hint("notes", "tasks-dist") == ("pip install 'notes-agent>=1'", False)


def test_metadata_without_a_name_still_gives_its_requirements(site: Path) -> None:
    distribution(site, "tasks_dist-1.0.dist-info", b"Metadata-Version: 2.1\nRequires-Dist: notes-agent\n")
    assert required_agent_install_hint("notes", "tasks-dist") == ("pip install notes-agent", False)


def test_a_metadata_that_is_a_directory_gives_the_guess(site: Path) -> None:
    (site / "tasks_dist-1.0.dist-info" / "METADATA").mkdir(parents=True)
    assert required_agent_install_hint("notes", "tasks-dist") == GUESS


def test_a_requirement_whose_own_metadata_is_broken_is_not_advised(site: Path) -> None:
    distribution(site, "tasks_dist-1.0.dist-info", b"Metadata-Version: 2.1\nName: tasks-dist\nRequires-Dist: notes-agent\n")
    distribution(site, "notes_agent-1.0.dist-info", b"Name: notes-agent\nVersion: \xff\n")  # installed, unreadable
    assert required_agent_install_hint("notes", "tasks-dist") == GUESS


def test_unreadable_metadata_of_nocodo_agents_itself_gives_the_generic_hint(site: Path) -> None:
    distribution(site, "nocodo_agents-0.1.0.dist-info", b"Metadata-Version: 2.1\nName: nocodo-agents\nProvides-Extra: caf\xe9\n")
    assert install_hint("requirements_qna") == (
        "pip install nocodo-agents-requirements-qna (or the distribution that provides agent 'requirements_qna')"
    )
    assert required_agent_install_hint("requirements_qna", "nowhere-dist") == ("pip install nocodo-agents-requirements-qna", True)


class _Tasks:
    @hookimpl
    def nocodo_agents_migrations(self) -> list[object]:
        return []

    @hookimpl
    def nocodo_agents_requires(self) -> list[str]:
        return ["notes"]


def test_the_missing_agent_errors_arrive_whole(site: Path) -> None:
    distribution(site, "tasks_dist-1.0.dist-info", b"Metadata-Version: 2.1\nName: tasks-dist\nRequires-Dist: \xff\n")
    distribution(site, "nocodo_agents-0.1.0.dist-info", b"Name: nocodo-agents\nProvides-Extra: \xff\n")
    registry = AgentRegistry([AgentEntry("tasks", "tasks-dist", "1.0", "tasks_plugin", lambda: _Tasks())])
    with pytest.raises(RequiredAgentMissingError) as missing:
        registry.requested_sets(["tasks"])
    assert (missing.value.agent, missing.value.distribution, missing.value.install_hint, missing.value.guessed) == (
        "notes", "tasks-dist", *GUESS
    )
    with pytest.raises(UnknownAgentError) as unknown:
        registry.requested_sets(["nowhere"])
    assert unknown.value.install_hint.startswith("pip install nocodo-agents-nowhere")
