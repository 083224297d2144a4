"""The quickstart's main job, run as the README runs it."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.installed_agents
def test_migrate_default_prints_what_it_applied(tmp_path: Path) -> None:
    path = tmp_path / "data" / "agents.sqlite"
    command = [sys.executable, str(ROOT / "examples" / "migrate_default.py"), str(path)]
    first = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert f"database: {path}" in first
    for line in ["V1__create_agent_sessions (core", "V2__create_agent_messages (core",
                 "V3__create_agent_tool_calls (core", "V4__create_project_requirements_qna (requirements_qna"]:
        assert f"applied  {line}" in first
    second = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "up to date: nothing to apply" in second
