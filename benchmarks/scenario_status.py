"""(5) ``migration_status`` on n applied migrations across k agents (1,000/10 and 10,000/100) vs reading the history.

The history is written directly (the rows our runner would write, with the
installed checksums; the tables themselves are not needed to report status).
Each round gives ours a new registry (built before the clock starts) and
empties the per-process memos (checksums, checked statements), as a new
process would have them: the migrations are in-process objects, so the cost
of importing migration modules is not in these numbers.
"""

from __future__ import annotations

import sqlite3
import time

from .context import DISK, Context
from .results import Row
from .timing import Outcome, Sample, Subject, interleave, stopwatch
from .workload import bulk_registry, forget_process_memos, history_rows_sqlite, planned, read_history_sqlite

NAME = "status"
OURS = "nocodo-agents migration_status"
FLOOR = "floor (read history)"
SIZES: list[tuple[int, int]] = [(1000, 10), (10_000, 100)]


def status_outcomes(ctx: Context, n: int, agents: int, rounds: int) -> dict[str, Outcome]:
    """Interleave our status and the history read on one open connection to n applied migrations."""
    from nocodo_agents.status import migration_status

    directory = ctx.directory(DISK, f"{NAME}{n}")
    path = str(directory / "status.sqlite")
    history_rows_sqlite(path, planned(bulk_registry(n, agents)))
    connection = sqlite3.connect(path)
    rows = migration_status(connection, registry=bulk_registry(n, agents))
    states = {row.state for row in rows}
    if states != {"applied"} or len(rows) != n + 3:
        raise RuntimeError(f"status set-up is wrong: {len(rows)} rows, states {sorted(states)}")

    def ours() -> Sample:
        registry = bulk_registry(n, agents)
        forget_process_memos()  # a new process's status: nothing remembered from the rounds before
        started = time.perf_counter()
        migration_status(connection, registry=registry)
        return Sample(time.perf_counter() - started)

    subjects: dict[str, Subject] = {FLOOR: lambda: stopwatch(lambda: read_history_sqlite(connection)), OURS: ours}
    try:
        return interleave(subjects, rounds, reference=FLOOR)
    finally:
        connection.close()


def run(ctx: Context) -> None:
    """Each size, then how the per-migration cost grew between the smallest and the largest."""
    sizes = [(20, 2), (60, 6)] if ctx.quick else [(n, k) for n, k in SIZES if n <= ctx.max_n]
    per_migration: dict[int, float] = {}
    for n, agents in sizes:
        bench = f"status: {n} applied migrations, {agents} agents"
        outcomes = status_outcomes(ctx, n, agents, ctx.rounds(10 if n < 10_000 else 5))
        median = outcomes[OURS].median
        if median is not None:
            per_migration[n] = median / (n + 3)
        ctx.results.add_outcomes(bench, outcomes, {OURS: f"{(median or 0) / (n + 3) * 1e6:.1f} us/migration"})
    if len(per_migration) >= 2:
        small, large = min(per_migration), max(per_migration)
        ctx.results.rows.append(Row("status growth", OURS, None, None,
                                    f"per-migration cost at n={large} / at n={small}: {per_migration[large] / per_migration[small]:.2f} (1.0 = O(n) total)"))
