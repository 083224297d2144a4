"""The benchmark harness (benchmarks/, ``python -m benchmarks``) runs in its quickest mode in the test environment.

The test environment lacks the peers (yoyo, sqlite-utils, alembic) and
matplotlib: the harness must say so in its table rather than crash, and
still measure our side and the floors. Only what it produced is asserted
(rows, counts, files), never a time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """One ``python -m benchmarks --quick`` run of every scenario (servers included), results in a temp dir."""
    out = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if k not in ("NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD", "NOCODO_AGENTS_DB")}
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, out


def _rows(stdout: str, benchmark: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(benchmark)]


def test_every_scenario_prints_rows_for_our_side_and_its_floor(quick_run: tuple[str, Path]) -> None:
    stdout, _ = quick_run
    for benchmark, ours, floor in (
        ("CLI no-op", "nocodo-agents migrate", "floor (python reads history)"),
        ("in-process no-op", "nocodo-agents run_agent_migrations", "floor (read history)"),
        ("20 migrations, fresh file on tmpfs", "nocodo-agents", "hand loop"),
        ("20 migrations, fresh file on disk", "nocodo-agents", "hand loop"),
        ("scale: 30 migrations", "nocodo-agents", "hand loop"),
        ("status: 60 applied migrations, 6 agents", "nocodo-agents migration_status", "floor (read history)"),
        ("first call, fresh process", "nocodo-agents run_agent_migrations", "floor (python reads history)"),
    ):
        rows = _rows(stdout, benchmark)
        assert any(floor in row and "1.00x" in row for row in rows), (benchmark, rows)
        assert any(ours in row and re.search(r"\d+\.\d\dx", row) and "failed" not in row for row in rows), (benchmark, rows)


def test_counts_are_reported(quick_run: tuple[str, Path]) -> None:
    stdout, _ = quick_run
    assert re.search(r"nocodo-agents\s.*\d+\.\d\d statements/migration", stdout)
    assert re.search(r"nocodo-agents migrate\s.*peak RSS [\d.]+ MiB", stdout) or not os.path.exists("/usr/bin/time")
    assert re.search(r"metadata files opened: \d+", stdout)
    assert re.search(r"scale growth.*per-migration cost at n=33 / at n=13: \d", stdout)


def test_missing_peers_are_named_not_fatal(quick_run: tuple[str, Path]) -> None:
    stdout, _ = quick_run
    for peer in ("yoyo", "sqlite-utils", "alembic"):
        rows = [row for row in _rows(stdout, "20 migrations, fresh file on tmpfs") if f"  {peer}" in row]
        assert rows, peer
        assert all("not installed" in row or re.search(r"\d+\.\d\dx", row) for row in rows), rows


def test_server_rows_count_round_trips_or_say_why_not(quick_run: tuple[str, Path]) -> None:
    stdout, _ = quick_run
    for label in ("PostgreSQL", "MariaDB"):
        rows = _rows(stdout, label)
        assert rows, label
        if not any("not available" in row or "not installed" in row for row in rows):
            assert any(re.search(r"nocodo-agents\s.*[\d.]+ round trips/migration", row) for row in rows), rows
            assert any(re.search(r"nocodo-agents no-op\s.*\d+ round trips", row) for row in rows), rows


def test_results_file_records_the_environment_and_the_table(quick_run: tuple[str, Path]) -> None:
    _, out = quick_run
    text = (out / "results.md").read_text()
    for fact in ("- Python: ", "- SQLite: ", "- machine: ", "| benchmark | subject | median | ratio | notes |"):
        assert fact in text
    assert "| 20 migrations, fresh file on disk | nocodo-agents |" in text
