"""How applying n migrations grows with n: statements, rows read and time, on a fresh SQLite file.

Each run registers core plus one in-process agent of n trivial migrations
(one ``CREATE TABLE`` each) and applies them all to a new file under /tmp.
Rows read are counted at the connection (every row a cursor hands back), so
the same script measures any version of the package: point ``PYTHONPATH`` at
another checkout's ``core/`` to compare (runs of the sizes are interleaved,
the median time reported).

Usage: python benchmarks/apply_many.py [--sizes 400 800 1600] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
import types
from typing import Any, Dict, List, Tuple

from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.hookspecs import hookimpl
from nocodo_agents.migration import Migration
from nocodo_agents.runner import run_agent_migrations

FIRST = 100


class _CountingCursor:
    """A cursor that adds the rows it hands back to its connection's count."""

    def __init__(self, cursor: sqlite3.Cursor, connection: "CountingConnection") -> None:
        self._cursor = cursor
        self._connection = connection

    def fetchall(self) -> List[Any]:
        rows = self._cursor.fetchall()
        self._connection.rows_read += len(rows)
        return rows

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        self._connection.rows_read += row is not None
        return row

    def __iter__(self) -> Any:
        for row in self._cursor:
            self._connection.rows_read += 1
            yield row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class CountingConnection(sqlite3.Connection):
    """A ``sqlite3`` connection counting the rows its ``execute`` results hand back."""

    rows_read = 0

    def execute(self, *args: Any) -> Any:  # type: ignore[override]
        return _CountingCursor(super().execute(*args), self)


def bulk_registry(n: int) -> AgentRegistry:
    migrations = [Migration(v, f"create_t_{v}", f"CREATE TABLE t_{v} (id INTEGER)") for v in range(FIRST, FIRST + n)]

    @hookimpl
    def nocodo_agents_migrations():  # type: ignore[no-untyped-def]
        return migrations

    plugin = types.ModuleType(f"bulk_plugin_{n}")
    plugin.nocodo_agents_migrations = nocodo_agents_migrations  # type: ignore[attr-defined]
    return AgentRegistry.from_plugins({"bulk": plugin})


def apply_once(n: int, directory: str) -> Tuple[int, int, float]:
    """Apply core + n migrations to a new file: statements, rows read, seconds."""
    path = os.path.join(directory, f"bulk_{n}.sqlite")
    if os.path.exists(path):
        os.remove(path)
    registry = bulk_registry(n)
    connection = sqlite3.connect(path, factory=CountingConnection)
    try:
        started = time.perf_counter()
        report = run_agent_migrations(connection, registry=registry)
        elapsed = time.perf_counter() - started
        assert len(report.applied) == n + 3, len(report.applied)
        return report.statements, connection.rows_read, elapsed
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[400, 800, 1600])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times: Dict[int, List[float]] = {n: [] for n in args.sizes}
    counts: Dict[int, Tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(dir="/tmp") as directory:
        for _ in range(args.repeat):
            for n in args.sizes:  # interleaved: each round runs every size once
                statements, rows, elapsed = apply_once(n, directory)
                counts[n] = (statements, rows)
                times[n].append(elapsed)
    print(f"{'n':>6} {'statements':>11} {'rows read':>11} {'median s':>9} {'ms/migration':>13}")
    for n in args.sizes:
        median = statistics.median(times[n])
        print(f"{n:>6} {counts[n][0]:>11} {counts[n][1]:>11} {median:>9.2f} {median * 1000 / (n + 3):>13.2f}")


if __name__ == "__main__":
    main()
