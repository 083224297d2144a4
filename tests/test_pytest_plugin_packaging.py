"""The pytest plugin from real wheels: in a fresh virtual environment holding nocodo-agents, the
requirements Q&A agent and pytest (nothing from the source tree), the agent's own test suite finds
the plugin through its ``pytest11`` entry point and passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.packaging


def _run(*args: str, cwd: Path | None = None) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "NOCODO_AGENTS_TEST_DB_URL" and not k.startswith("PYTEST_")}
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def test_an_agents_suite_uses_the_plugin_from_installed_wheels(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels),
        str(ROOT), str(ROOT / "plugins" / "requirements_qna"),
    )
    _run(sys.executable, "-m", "pip", "download", "--only-binary=:all:", "-d", str(wheels), "pluggy", "pytest>=7")
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = str(env / "bin" / "python")
    _run(python, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "nocodo-agents[requirements-qna]", "pytest>=7")
    suite = tmp_path / "suite"
    shutil.copytree(ROOT / "plugins" / "requirements_qna" / "tests", suite / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    (suite / "pytest.ini").write_text("[pytest]\nnocodo_agents = requirements_qna\n", encoding="utf-8")
    output = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=suite)
    assert output.strip().splitlines()[-1].startswith("8 passed"), output
    plugins = _run(python, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", "--trace-config", cwd=suite)
    assert "nocodo_agents.pytest_plugin" in plugins, plugins
