"""How migrate and rollback report their steps: --json (one object per line, then a summary; an error
object when they fail), a live line with a bar on a terminal, plain lines elsewhere, nothing with -q."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
from pathlib import Path
from typing import Any

from cli_support import CONSOLE_SCRIPT, Cli


def _events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_migrate_json_prints_one_object_per_step_then_a_summary(tmp_path: Path) -> None:
    cli = Cli(tmp_path, tmp_path)
    url = f"sqlite:///{tmp_path / 'agents.db'}"
    first = cli("--db", url, "migrate", "--json", "--target", "2")
    assert first.code == 0 and first.err == ""
    events = _events(first.out)
    assert [(e["event"], e.get("version")) for e in events] == [("applied", 1), ("applied", 2), ("summary", None)]
    assert events[0]["agent"] == "core" and events[0]["distribution"] == "nocodo-agents" and events[0]["duration_ms"] >= 0
    assert events[-1] == {"event": "summary", "database": url, "applied": 2, "adopted": 0, "up_to_date": False, "not_installed": []}

    dry = _events(cli("--db", url, "migrate", "--json", "--dry-run", "--agent", "requirements_qna").out)
    assert [(e["event"], e.get("version")) for e in dry] == [("would-apply", 3), ("would-apply", 4), ("summary", None)]
    assert "CREATE TABLE" in dry[0]["sql"] and "refinery_schema_history" in dry[0]["history_sql"]
    assert dry[-1]["dry_run"] is True and dry[-1]["would_apply"] == 2

    quiet = cli("-q", "--db", url, "migrate", "--json", "--agent", "requirements_qna")
    assert [e["event"] for e in _events(quiet.out)] == ["applied", "applied", "summary"], "the answer, printed with -q too"
    again = _events(cli("--db", url, "migrate", "--json").out)
    assert again == [{"event": "summary", "database": url, "applied": 0, "adopted": 0, "up_to_date": True, "not_installed": []}]


def test_migrate_fake_and_rollback_json(tmp_path: Path) -> None:
    cli = Cli(tmp_path, tmp_path)
    url = f"sqlite:///{tmp_path / 'agents.db'}"
    cli("--db", url, "migrate", "--target", "3")
    fake = _events(cli("--db", url, "migrate", "--fake", "--json", "--agent", "requirements_qna").out)
    assert [(e["event"], e.get("version")) for e in fake] == [("recorded", 4), ("summary", None)]
    assert fake[-1]["recorded"] == 1
    dry = _events(cli("--db", url, "rollback", "--to", "2", "--dry-run", "--json", "--agent", "requirements_qna").out)
    assert [(e["event"], e.get("version")) for e in dry] == [("would-roll-back", 4), ("would-roll-back", 3), ("summary", None)]
    assert dry[-1] == {"event": "summary", "database": url, "dry_run": True, "to": 2, "would_roll_back": 2}
    failed = cli("--db", url, "rollback", "--to", "2", "--json", "--agent", "requirements_qna")
    assert failed.code == 5  # V4 was recorded, never run: its rollback finds no table
    (error,) = _events(failed.out)
    assert error["error"] == "MigrationFailedError" and "Its transaction was rolled back" in error["message"]
    url = f"sqlite:///{tmp_path / 'real.db'}"
    cli("--db", url, "migrate", "--agent", "requirements_qna")
    done = cli("--db", url, "rollback", "--to", "2", "--json", "--agent", "requirements_qna")
    assert done.code == 0, done.text
    events = _events(done.out)
    assert [(e["event"], e.get("version")) for e in events] == [("rolled-back", 4), ("rolled-back", 3), ("summary", None)]
    assert events[-1]["rolled_back"] == 2 and events[-1]["dry_run"] is False


def test_a_failed_json_command_ends_with_an_error_object(tmp_path: Path) -> None:
    cli = Cli(tmp_path, tmp_path)
    url = f"sqlite:///{tmp_path / 'agents.db'}"
    failed = cli("--db", url, "migrate", "--json", "--agent", "nope")
    assert failed.code == 1
    (event,) = _events(failed.out)
    assert event["event"] == "error" and event["error"] == "UnknownAgentError" and event["exit_code"] == 1
    assert "agent 'nope' is not installed" in event["message"] and "agent 'nope' is not installed" in failed.err
    rollback = cli("--db", url, "rollback", "--to", "0", "--json")
    assert rollback.code == 6 and _events(rollback.out)[-1]["exit_code"] == 6  # the file does not exist
    hidden = cli("--db", "postgresql://app:hunter2@127.0.0.1:1/x", "migrate", "--json")
    assert hidden.code == 6 and "hunter2" not in hidden.out and _events(hidden.out)[-1]["error"] == "DatabaseAccessError"


def _on_a_terminal(cwd: Path, *args: str) -> str:
    """Run the console script with stdout and stderr on a pseudo-terminal; everything it wrote there."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOCODO_AGENTS_") and k != "PYTHONPATH"}
    env.update(TERM="xterm", COLUMNS="200")
    process = subprocess.Popen([CONSOLE_SCRIPT, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other side closed: the command is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=60) == 0
    os.close(leader)
    return b"".join(chunks).decode()


def test_a_terminal_shows_a_live_line_with_a_bar_and_plain_output_does_not(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agents.db'}"
    shown = _on_a_terminal(tmp_path, "--db", url, "migrate", "--agent", "requirements_qna")
    assert "[4/4] applied V4__create_project_requirements_qna" in shown
    assert "[########################] 100% 4/4 applied, elapsed " in shown and "V4__create_project_requirements_qna" in shown
    assert shown.rstrip("\r\n").endswith("done: 4 applied"), "the live line is erased before the end"
    assert "\x1b[K" in shown
    rolled = _on_a_terminal(tmp_path, "--db", url, "rollback", "--to", "2", "--agent", "requirements_qna")
    assert "2 rolled back, elapsed " in rolled and "done: 2 rolled back" in rolled
    quiet = _on_a_terminal(tmp_path, "-q", "--db", url, "migrate", "--agent", "requirements_qna")
    assert quiet == "", "-q: nothing"
    as_json = _on_a_terminal(tmp_path, "--db", url, "rollback", "--to", "2", "--json", "--agent", "requirements_qna")
    assert "\x1b" not in as_json and [e["event"] for e in _events(as_json.replace("\r", ""))] == ["rolled-back", "rolled-back", "summary"]
    piped = subprocess.run([CONSOLE_SCRIPT, "--db", url, "migrate", "--agent", "requirements_qna"], capture_output=True, text=True, check=True)
    assert "\x1b" not in piped.stdout + piped.stderr and "elapsed" not in piped.stderr
    assert "[1/2] applied V3__create_agent_tool_calls" in piped.stdout
