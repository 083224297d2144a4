"""(3) n trivial migrations on a fresh SQLite file, on tmpfs and on disk, vs the hand loop and the peers;
our grouped mode vs the hand loop in one transaction.

Every subject starts each round from a fresh file (removed before the clock
starts). Ours is given its migrations in-process (a registry, as
``benchmarks/apply_many.py`` did); yoyo and alembic read theirs from files,
as they must; sqlite-utils' Migrations object is built once, like ours.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import peer_alembic, peer_sqlite_utils, peer_yoyo
from .context import DISK, TMPFS, Context, triples
from .results import Row, ScalePoint
from .timing import Outcome, Sample, Subject, interleave
from .workload import bulk_registry, forget_process_memos, fresh, grouped_supported, hand_loop_sqlite, ours_apply, planned

NAME = "apply"
HAND = "hand loop (BEGIN; stmt; INSERT history; COMMIT)"
OURS = "nocodo-agents"
#: Ours as the first run in a process (its memos of checksums, checked statements and scripts empty).
OURS_FIRST = "nocodo-agents, first run in a process"


def _timed(prepare, work) -> Sample:  # type: ignore[no-untyped-def]
    """Call ``prepare()`` untimed, then time ``work(prepared)``; ``work`` may return counts."""
    prepared = prepare()
    started = time.perf_counter()
    counts = work(prepared)
    return Sample(time.perf_counter() - started, counts if isinstance(counts, dict) else {})


def apply_outcomes(ctx: Context, n: int, where: Path, bench: str, rounds: int) -> dict[str, Outcome]:
    """Interleave the hand loop, ours and each installed peer applying ``n`` (+ core's 3) migrations."""
    directory = ctx.directory(where, f"{NAME}{n}")
    plan = planned(bulk_registry(n))
    total = len(plan)
    subjects: dict[str, Subject] = {
        HAND: lambda: _timed(lambda: fresh(str(directory / "hand.sqlite")), lambda p: hand_loop_sqlite(p, plan)),
        OURS: lambda: _timed(lambda: (fresh(str(directory / "ours.sqlite")), bulk_registry(n)),
                             lambda pr: {"statements_per_migration": ours_apply(pr[0], pr[1]) / total}),
        OURS_FIRST: lambda: _timed(lambda: (fresh(str(directory / "first.sqlite")), bulk_registry(n), forget_process_memos()),
                                   lambda pr: {"statements_per_migration": ours_apply(pr[0], pr[1]) / total}),
    }
    migrations = triples(plan)
    chosen = ctx.peers(bench, ["yoyo", "sqlite-utils", "alembic"])
    if "yoyo" in chosen:
        project = peer_yoyo.write(directory / "yoyo", migrations)
        subjects["yoyo"] = lambda: _timed(lambda: fresh(str(directory / "yoyo.sqlite")), lambda p: peer_yoyo.apply(project, p))
    if "sqlite-utils" in chosen:
        loaded = peer_sqlite_utils.load(peer_sqlite_utils.write(directory / "sqlite-utils", migrations))
        subjects["sqlite-utils"] = lambda: _timed(lambda: fresh(str(directory / "su.sqlite")), lambda p: peer_sqlite_utils.apply(loaded, p))
    if "alembic" in chosen:
        script = peer_alembic.write(directory / "alembic", migrations)
        subjects["alembic"] = lambda: _timed(lambda: fresh(str(directory / "alembic.sqlite")), lambda p: peer_alembic.apply(script, p))
    return interleave(subjects, rounds, reference=HAND)


def _notes(outcomes: dict[str, Outcome], total: int) -> dict[str, str]:
    notes = {}
    for name, outcome in outcomes.items():
        if outcome.median is not None:
            notes[name] = f"{outcome.median / total * 1e3:.3f} ms/migration"
        statements = outcome.count("statements_per_migration")
        if statements is not None:
            notes[name] += f", {statements:.2f} statements/migration"
    return notes


def run(ctx: Context) -> None:
    """1000 migrations (quick: 20) on tmpfs and on disk, each in its own transaction; then grouped."""
    n = 20 if ctx.quick else min(1000, ctx.max_n)
    for where, label in ((TMPFS, "tmpfs"), (DISK, "disk")):
        bench = f"{n} migrations, fresh file on {label}"
        outcomes = apply_outcomes(ctx, n, where, bench, ctx.rounds(5))
        ctx.results.add_outcomes(bench, outcomes, _notes(outcomes, n + 3))
    run_grouped(ctx, n)


def run_grouped(ctx: Context, n: int) -> None:
    """Our ``grouped=True`` vs the hand loop in one transaction, on tmpfs."""
    bench = f"{n} migrations in one transaction (grouped), tmpfs"
    hand = "hand loop, one transaction"
    if not grouped_supported():
        ctx.results.skip(bench, f"{OURS} grouped=True", "n/a: the installed run_agent_migrations has no grouped= parameter")
        return
    directory = ctx.directory(TMPFS, "grouped")
    plan = planned(bulk_registry(n))
    subjects: dict[str, Subject] = {
        hand: lambda: _timed(lambda: fresh(str(directory / "hand.sqlite")), lambda p: hand_loop_sqlite(p, plan, grouped=True)),
        f"{OURS} grouped=True": lambda: _timed(lambda: (fresh(str(directory / "ours.sqlite")), bulk_registry(n)),
                                               lambda pr: {"statements_per_migration": ours_apply(pr[0], pr[1], grouped=True) / len(plan)}),
    }
    outcomes = interleave(subjects, ctx.rounds(5), reference=hand)
    ctx.results.add_outcomes(bench, outcomes, _notes(outcomes, len(plan)))


SCALE_ROUNDS = {100: 5, 1000: 3, 10_000: 1}


def run_scale(ctx: Context, on_disk: bool = False) -> None:
    """(4) n = 100, 1000, 10,000 (up to --max-n; quick: 10, 30): per-migration cost for each subject."""
    sizes: list[int] = [10, 30] if ctx.quick else [n for n in SCALE_ROUNDS if n <= ctx.max_n]
    where, label = (DISK, "disk") if on_disk else (TMPFS, "tmpfs")
    series = f"fresh file on {label}"
    for n in sizes:
        bench = f"scale: {n} migrations, {series}"
        outcomes = apply_outcomes(ctx, n, where, bench, ctx.rounds(SCALE_ROUNDS.get(n, 3)))
        ctx.results.add_outcomes(bench, outcomes, _notes(outcomes, n + 3))
        for name, outcome in outcomes.items():
            if outcome.median is not None:
                ctx.results.points.append(ScalePoint(series, name, n + 3, outcome.median))
    _growth(ctx, series, sizes)


def _growth(ctx: Context, series: str, sizes: list[int]) -> None:
    """A row per subject: per-migration cost at the largest n over that at the smallest (1.0 = linear).

    SQLite itself slows as the schema grows (every ``CREATE TABLE`` rewrites a
    larger schema), so the growth is also given relative to the hand loop's.
    """
    if len(sizes) < 2:
        return
    growths: dict[str, tuple[int, int, float]] = {}
    for subject in sorted({p.subject for p in ctx.results.points if p.series == series}):
        by_n = {p.n: p.seconds / p.n for p in ctx.results.points if p.series == series and p.subject == subject}
        small, large = min(by_n), max(by_n)
        if small != large:
            growths[subject] = (small, large, by_n[large] / by_n[small])
    hand = growths.get(HAND)
    for subject, (small, large, growth) in growths.items():
        relative = f"; {growth / hand[2]:.2f}x the hand loop's growth" if hand and subject != HAND and hand[:2] == (small, large) else ""
        ctx.results.rows.append(_growth_row(series, subject, small, large, growth, relative))


def _growth_row(series: str, subject: str, small: int, large: int, growth: float, relative: str) -> Row:
    return Row(f"scale growth, {series}", subject, None, None,
               f"per-migration cost at n={large} / at n={small}: {growth:.2f} (1.0 = O(n) total){relative}")
