"""``examples/third_party_agent/``, the agent distribution authors copy, works as its README says.

Its wheel and this checkout's are installed into a fresh virtual environment
(nothing from the source tree), and its own test suite, written with the
nocodo-agents pytest plugin, passes there on SQLite, PostgreSQL and MariaDB.
Then a new author copies it, renames it as its README says (the three names,
the package directory, the migrations' versions), builds and installs the copy
into another fresh environment, and its suite passes on the three databases.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging_support import ROOT, build_wheels, download, fresh_env, run, wheelhouse_with

if TYPE_CHECKING:  # pragma: no cover
    from servers import MariaDBServer, PostgresServer

pytestmark = pytest.mark.packaging

TEMPLATE = ROOT / "examples" / "third_party_agent"

#: The template's names, in the order its README replaces them (the package's name contains the agent's).
TEMPLATE_NAMES = {
    "nocodo_agents_example_notes": "acme_field_notes",  # the import package
    "nocodo-agents-example-notes": "acme-field-notes",  # the distribution
    "example_notes": "field_notes",  # the agent (and the prefix of its tables and indexes)
}
#: The copy's own versions: the UTC time its author "wrote" each migration.
NEW_VERSIONS = {"V20261202120000": "V20270315093000", "V20261202120100": "V20270315093100"}

#: The ready-made checks (6) and the template's own tests (2).
EXPECTED = 8


@dataclass
class Installed:
    """A fresh virtual environment holding one agent distribution, and a copy of that distribution's source tree."""

    python: Path
    source: Path
    package: str


def rename_commands() -> str:
    """The shell commands of the template's README that rename a copy ("With `sed`, from the copy's directory")."""
    readme = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    after = readme.split("With `sed`, from the copy's directory", 1)[1]
    return after.split("```\n", 2)[1]


def renamed_copy(destination: Path) -> Path:
    """Copy the template to ``destination`` and do what its README tells a new author to do."""
    shutil.copytree(TEMPLATE, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache"))
    commands = rename_commands()
    for old, new in TEMPLATE_NAMES.items():
        assert f"s/{old}/{new}/g" in commands, f"the README's commands do not rename {old} to {new}: {commands}"
    run("bash", "-euc", commands, cwd=destination)
    for migration in (destination / "acme_field_notes" / "migrations").glob("V*.py"):  # step 2: versions of its own
        version, rest = migration.name.split("__", 1)
        migration.rename(migration.with_name(f"{NEW_VERSIONS[version]}__{rest}"))
    return destination


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory, project_wheels: Path) -> Path:
    """This checkout's wheels, pytest and the drivers, with the template's wheel and the renamed copy's."""
    directory = wheelhouse_with(project_wheels, tmp_path_factory.mktemp("wheels"))
    download(directory, "pytest>=7", "psycopg[binary]>=3.1", "PyMySQL>=1.0")
    build_wheels(directory, TEMPLATE, renamed_copy(tmp_path_factory.mktemp("copy") / "acme-field-notes"))
    return directory


def _installed(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, distribution: str, source: Path, package: str) -> Installed:
    where = tmp_path_factory.mktemp(distribution)
    python = fresh_env(where, wheelhouse, f"{distribution}[test]", "psycopg[binary]>=3.1", "PyMySQL>=1.0")
    module = run(str(python), "-I", "-c", f"import {package}; print({package}.__file__)", cwd=where)
    assert str(where / "venv") in module, f"{package} imported from {module}, not from the installed wheel"
    suite = where / "suite"  # the source tree, copied: its tests and its pyproject's pytest settings
    shutil.copytree(source, suite, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache", package))
    return Installed(python, suite, package)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Installed:
    return _installed(tmp_path_factory, wheelhouse, "nocodo-agents-example-notes", TEMPLATE, "nocodo_agents_example_notes")


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Installed:
    source = renamed_copy(tmp_path_factory.mktemp("author") / "acme-field-notes")
    return _installed(tmp_path_factory, wheelhouse, "acme-field-notes", source, "acme_field_notes")


def _passes(installed: Installed, *arguments: str) -> str:
    """Run the suite with the environment's own pytest script (so the working directory is not on the path); its output."""
    environment = {k: v for k, v in os.environ.items() if k != "NOCODO_AGENTS_TEST_DB_URL" and not k.startswith(("PYTEST_", "PYTHON"))}
    result = subprocess.run(
        [str(installed.python.parent / "pytest"), "-q", "-p", "no:cacheprovider", "-rs", *arguments],
        cwd=installed.source, env=environment, capture_output=True, text=True, timeout=600,
    )
    summary: list[str] = result.stdout.strip().splitlines()[-1:]
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary and summary[0].startswith(f"{EXPECTED} passed") and "skipped" not in summary[0], result.stdout
    return result.stdout


def test_the_renamed_copy_keeps_no_template_name(tmp_path: Path) -> None:
    copy = renamed_copy(tmp_path / "acme-field-notes")
    left = [str(path.relative_to(copy)) for path in copy.rglob("*") if "example" in path.name]
    left += [f"{path.relative_to(copy)}: {line}" for path in copy.rglob("*") if path.is_file()
             for line in path.read_text(encoding="utf-8").splitlines() if "example_notes" in line.replace("-", "_")]
    assert not left, left
    assert sorted(path.name for path in (copy / "acme_field_notes" / "migrations").glob("V*.py")) == [
        "V20270315093000__create_field_notes.py", "V20270315093100__add_field_notes_pinned.py"]


def test_the_template_passes_on_sqlite(template: Installed) -> None:
    _passes(template)


def test_the_template_passes_on_postgresql(template: Installed, postgres_server: PostgresServer) -> None:
    _passes(template, "--nocodo-db-url", postgres_server.url("postgres"))


def test_the_template_passes_on_mariadb(template: Installed, mariadb_server: MariaDBServer) -> None:
    _passes(template, "--nocodo-db-url", mariadb_server.url("mysql"))


def test_a_renamed_copy_passes_on_sqlite(renamed: Installed) -> None:
    _passes(renamed)
    agents = run(str(renamed.python.parent / "nocodo-agents"), "agents", cwd=renamed.source)
    assert "field_notes" in agents and "example_notes" not in agents, agents


def test_a_renamed_copy_passes_on_postgresql(renamed: Installed, postgres_server: PostgresServer) -> None:
    _passes(renamed, "--nocodo-db-url", postgres_server.url("postgres"))


def test_a_renamed_copy_passes_on_mariadb(renamed: Installed, mariadb_server: MariaDBServer) -> None:
    _passes(renamed, "--nocodo-db-url", mariadb_server.url("mysql"))
