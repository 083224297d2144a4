"""Real wheels for the packaging tests: commands, agent projects written to disk, and this checkout's wheels built once.

``build_project_wheels`` builds the wheels of both distributions of this
checkout (and downloads their runtime dependencies) into one directory; the
session fixture ``project_wheels`` in ``conftest.py`` calls it once per test
session, and each packaging module copies those wheels into a wheelhouse of
its own (:func:`wheelhouse_with`) before adding its agents' wheels, so no
module sees another's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

#: the checkout: the core distribution, with requirements_qna's under plugins/
ROOT = Path(__file__).resolve().parents[1]
#: what the two distributions need at run time, downloaded next to their wheels
RUNTIME_DEPENDENCIES = ("pluggy", "importlib-metadata>=4.6")


def run(*args: str, cwd: Path | None = None) -> str:
    """Run a command; its standard output, or an ``AssertionError`` showing both outputs if it fails."""
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text, dedented) below ``root``; return ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def pyproject_toml(distribution: str, version: str, dependencies: str, agent: str, package: str, *, list_package: bool = True) -> str:
    """An agent distribution's ``pyproject.toml`` built with hatchling, its entry point ``agent = "package.plugin"``.

    ``list_package=False``: no ``[tool.hatch.build.targets.wheel]`` table, as
    the README's (hatchling then finds the package by the distribution's name).
    """
    text = f"""
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "{distribution}"
        version = "{version}"
        dependencies = {dependencies}

        [project.entry-points.nocodo_agents]
        {agent} = "{package}.plugin"
    """
    if list_package:
        text += f"""
        [tool.hatch.build.targets.wheel]
        packages = ["{package}"]
    """
    return text


def build_wheels(directory: Path, *sources: Path) -> None:
    """Build the wheel of each source tree into ``directory`` with this interpreter (no build isolation, no dependencies)."""
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(directory), *(str(s) for s in sources))


def download(directory: Path, *requirements: str) -> None:
    """Download the wheels of ``requirements`` (and their dependencies) into ``directory``, binaries only."""
    run(sys.executable, "-m", "pip", "download", "--only-binary=:all:", "-d", str(directory), *requirements)


def build_project_wheels(directory: Path) -> Path:
    """The wheels of this checkout's two distributions and of their runtime dependencies, in ``directory``."""
    build_wheels(directory, ROOT, ROOT / "plugins" / "requirements_qna")
    download(directory, *RUNTIME_DEPENDENCIES)
    return directory


def wheelhouse_with(project_wheels: Path, directory: Path) -> Path:
    """A wheelhouse of its own at ``directory``, starting with copies of the wheels in ``project_wheels``."""
    directory.mkdir(parents=True, exist_ok=True)
    for wheel in project_wheels.iterdir():
        shutil.copy2(wheel, directory / wheel.name)
    return directory


def fresh_env(tmp_path: Path, wheelhouse: Path, *requirements: str) -> Path:
    """A new virtual environment at ``tmp_path / "venv"`` with ``requirements`` installed from ``wheelhouse`` only; its python."""
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    run(str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse), *requirements)
    return python
