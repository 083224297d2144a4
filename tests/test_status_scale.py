"""Reading or planning the whole history grows linearly with it: counted (never timed) at two sizes.

``status``, ``verify``, an uncached no-op run, a dry run up to a target,
planning a rollback, ``repair`` with nothing to repair and ``baseline``, each
on n applied migrations across n/20 agents (each agent requiring another, so
the requirement ordering and its checks take part), for n = 200 and 2,000.
What is counted is the work done in Python: every function call, Python's
own and the C functions it calls (one SQL statement is one call; SQLite's
own cost of replaying n ``CREATE TABLE`` on a scratch database, which grows
faster than n inside SQLite, is not ours to count). Tenfold migrations must
cost at most tenfold calls, plus 10% (the requirement graph of n/20 agents
is a tree: its transitive closure grows as n log n, well inside that).
"""

from __future__ import annotations

import itertools
import sqlite3
import sys
import types
from pathlib import Path
from typing import Any, Callable

from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.engine.noop_cache import NO_OP_CACHE
from nocodo_agents.hookspecs import hookimpl
from nocodo_agents.lifecycle import baseline, repair_history, rollback_migrations, verify_database
from nocodo_agents.migration import Migration
from nocodo_agents.status import APPLIED, migration_status

_names = itertools.count()
#: Migrations per agent.
PER_AGENT = 20
#: The first version of the first bulk agent (core holds V1-V3).
FIRST = 1000


def bulk_registry(agents: int) -> AgentRegistry:
    """Core plus ``agents`` agents of :data:`PER_AGENT` trivial migrations each; agent i (i > 0) requires agent i // 2."""
    plugins: dict[str, types.ModuleType] = {}
    for index in range(agents):
        first = FIRST + index * PER_AGENT
        migrations = [
            Migration(v, f"create_t_{v}", f"CREATE TABLE t_{v} (id INTEGER)", rollback=f"DROP TABLE t_{v}")
            for v in range(first, first + PER_AGENT)
        ]
        plugin = types.ModuleType(f"nocodo_scale_plugin_{next(_names)}")

        def nocodo_agents_migrations(migrations: Any = migrations) -> Any:
            return migrations

        nocodo_agents_migrations.__name__ = "nocodo_agents_migrations"
        plugin.nocodo_agents_migrations = hookimpl(nocodo_agents_migrations)  # type: ignore[attr-defined]
        if index:
            required = [f"agent_{index // 2}"]

            def nocodo_agents_requires(required: Any = required) -> Any:
                return required

            nocodo_agents_requires.__name__ = "nocodo_agents_requires"
            plugin.nocodo_agents_requires = hookimpl(nocodo_agents_requires)  # type: ignore[attr-defined]
        plugins[f"agent_{index}"] = plugin
    return AgentRegistry.from_plugins(plugins)


def calls(operation: Callable[[], Any]) -> int:
    """How many functions ``operation`` calls, Python's and C's (``sys.setprofile`` events), and its result checked by the caller."""
    counted = 0

    def profile(_frame: Any, event: str, _arg: Any) -> None:
        nonlocal counted
        if event in ("call", "c_call"):
            counted += 1

    sys.setprofile(profile)
    try:
        operation()
    finally:
        sys.setprofile(None)
    return counted


def counts(tmp_path: Path, agents: int) -> dict[str, int]:
    """The calls of each whole-history operation on ``agents`` * :data:`PER_AGENT` applied migrations (SQLite files).

    ``conn`` has them all applied, ``half`` those up to the middle version, ``fresh`` none (``baseline`` records them).
    """
    n = agents * PER_AGENT
    registry = bulk_registry(agents)
    conn = sqlite3.connect(tmp_path / f"scale_{agents}.sqlite")
    run_agent_migrations(conn, registry=registry)
    middle = FIRST + n // 2
    half = sqlite3.connect(tmp_path / f"half_{agents}.sqlite")
    run_agent_migrations(half, registry=registry, target=middle)
    fresh = sqlite3.connect(tmp_path / f"fresh_{agents}.sqlite")
    for warm in (lambda: migration_status(conn, registry=registry), lambda: verify_database(conn, registry=registry)):
        warm()  # lazy imports and first-use caches: not part of the growth

    def status() -> None:
        rows = migration_status(conn, registry=registry)
        assert len(rows) == n + 3 and {row.state for row in rows} == {APPLIED}

    def verify() -> None:
        report = verify_database(conn, registry=registry)
        assert not report.drift.has_drift and not report.divergent and not report.pending

    def no_op() -> None:
        NO_OP_CACHE.clear()
        assert run_agent_migrations(conn, registry=registry).versions == ()

    def dry_run() -> None:
        report = run_agent_migrations(half, registry=registry, dry_run=True, target=middle + n // 4)
        assert len(report.versions) == n // 4

    def rollback_plan() -> None:
        report = rollback_migrations(conn, middle, registry=registry, dry_run=True)
        assert len(report.rolled_back) == FIRST + n - 1 - middle

    def repair() -> None:
        assert repair_history(conn, registry=registry).repaired == ()

    def record_baseline() -> None:
        assert len(baseline(fresh, FIRST + n, registry=registry).adopted) == n + 3

    operations = {
        "status": status, "verify": verify, "no-op migrate": no_op, "dry run to a target": dry_run,
        "rollback plan": rollback_plan, "repair": repair, "baseline": record_baseline,
    }
    try:
        return {name: calls(operation) for name, operation in operations.items()}
    finally:
        for connection in (conn, half, fresh):
            connection.close()


def test_whole_history_operations_grow_linearly_with_the_history(tmp_path: Path) -> None:
    small, large = counts(tmp_path, 10), counts(tmp_path, 100)
    grown = {name: round(large[name] / small[name], 2) for name in small}
    assert all(ratio <= 10 * 1.1 for ratio in grown.values()), (grown, small, large)
