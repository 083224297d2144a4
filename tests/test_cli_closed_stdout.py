"""A reader that closes stdout (``nocodo-agents status --json | head``) ends the command quietly:
exit 141 (128 + SIGPIPE, as a shell reports a program stopped by a closed pipe), nothing on stderr,
and a ``migrate`` stops at its next line of output, which is never inside a migration."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from cli_support import CONSOLE_SCRIPT


def _with_closed_stdout(cwd: Path, *args: str) -> tuple[int, str]:
    """Run the console script with a stdout pipe whose reading end is already closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the command starts: its first write fails, deterministically
    env = {k: v for k, v in os.environ.items() if k not in ("NOCODO_AGENTS_DB", "PYTHONPATH")}
    try:
        done = subprocess.run([CONSOLE_SCRIPT, *args], cwd=cwd, env=env, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    return done.returncode, done.stderr


def _versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT version FROM refinery_schema_history ORDER BY version")]


def test_status_json_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agents.db'}"
    subprocess.run([CONSOLE_SCRIPT, "--db", url, "migrate"], check=True, capture_output=True)
    for args in (["status", "--json"], ["status"], ["agents", "--json"], ["verify"]):
        code, err = _with_closed_stdout(tmp_path, "--db", url, *args)
        assert (code, err) == (141, ""), args


def test_migrate_into_a_closed_pipe_stops_only_where_nothing_is_half_done(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    url = f"sqlite:///{path}"
    subprocess.run([CONSOLE_SCRIPT, "--db", url, "migrate", "--target", "1"], check=True, capture_output=True)
    code, err = _with_closed_stdout(tmp_path, "--db", url, "migrate", "--agent", "requirements_qna")
    assert (code, err) == (141, "")
    assert _versions(path) == [1], "stopped at its first line ('migrating ...: 3 pending'), before any migration"
    code, err = _with_closed_stdout(tmp_path, "--db", url, "-q", "migrate", "--agent", "requirements_qna", "--target", "2")
    assert (code, err) == (0, "") and _versions(path) == [1, 2], "-q prints nothing, so nothing stops it"
    # a reader that goes away mid-run: stdout closes after the first progress line
    reader = subprocess.Popen([CONSOLE_SCRIPT, "--db", url, "migrate", "--agent", "requirements_qna"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert reader.stdout is not None and reader.stdout.readline().startswith("migrating ")
    reader.stdout.close()
    assert reader.wait(timeout=120) in (0, 141) and reader.stderr is not None and reader.stderr.read() == ""
    applied = _versions(path)
    assert applied in ([1, 2], [1, 2, 3], [1, 2, 3, 4]), "whole migrations only, each with its history row"
    done = subprocess.run([CONSOLE_SCRIPT, "--db", url, "migrate", "--agent", "requirements_qna"],
                          capture_output=True, text=True, check=True)
    assert _versions(path) == [1, 2, 3, 4] and ("done:" in done.stdout or "up to date" in done.stdout)


def test_a_closed_stderr_does_not_stop_a_command(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([CONSOLE_SCRIPT, "--db", f"sqlite:///{tmp_path / 'missing.db'}", "status"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=write_end, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert done.returncode == 0 and "pending" in done.stdout  # its note went nowhere; the answer did not
    assert not (tmp_path / "missing.db").exists()
    assert sys.executable  # the console script ran from this interpreter's environment
