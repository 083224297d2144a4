"""How much a no-op run costs (database already up to date), the path every application start takes.

Compares, on one SQLite file migrated with core + requirements_qna:
  - reading the history table (the floor: a no-op cannot do less),
  - run_agent_migrations(conn, agents=["requirements_qna"]) with nothing to apply,
  - the same with agents=None (every installed agent),
and, in fresh interpreters, the cost of importing the runner.

Usage: python benchmarks/noop_sqlite.py [--repeat N]
Needs both distributions installed (bash tests/bootstrap.sh, then .venv/bin/python).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List

from nocodo_agents.database.migrations import run_agent_migrations


def timed(function: Callable[[], object], repeat: int) -> List[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def report(label: str, samples: List[float], floor: float) -> None:
    median = statistics.median(samples)
    print(f"{label:<48} median {median:9.1f} us   p90 {sorted(samples)[int(len(samples) * 0.9)]:9.1f} us   {median / floor:6.1f}x floor")


def import_cost(statement: str, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "agents.sqlite"
        connection = sqlite3.connect(path)
        run_agent_migrations(connection, agents=["requirements_qna"])

        floor_samples = timed(lambda: connection.execute("SELECT * FROM refinery_schema_history").fetchall(), args.repeat)
        floor = statistics.median(floor_samples)
        report("read history table (floor)", floor_samples, floor)
        report("no-op run, agents=['requirements_qna']", timed(lambda: run_agent_migrations(connection, agents=["requirements_qna"]), args.repeat), floor)
        report("no-op run, agents=None", timed(lambda: run_agent_migrations(connection), args.repeat), floor)
        connection.close()

    baseline = import_cost("pass", 10)
    runner = import_cost("from nocodo_agents.database.migrations import run_agent_migrations", 10)
    package = import_cost("import nocodo_agents", 10)
    print(f"{'interpreter start (python -c pass)':<48} median {baseline:9.1f} ms")
    print(f"{'+ import nocodo_agents':<48} median {package - baseline:9.1f} ms")
    print(f"{'+ import run_agent_migrations':<48} median {runner - baseline:9.1f} ms")


if __name__ == "__main__":
    main()
