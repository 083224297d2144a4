"""A fleet of runners started at the same moment on one database, as replicas booting together."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Sequence
from typing import Any, Callable

from conftest import registry_of

from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.lifecycle import rollback_migrations

RUNNERS = 16


def _member(connect: Callable[[], Any], package: str, rollback_to: int | None, barrier: Any, results: Any) -> None:
    try:
        connection = connect()
        barrier.wait(timeout=60)
        if rollback_to is None:
            report = run_agent_migrations(connection, registry=registry_of(fleet=package))
            results.put(("ok", report.versions))
        else:
            undone = rollback_migrations(connection, rollback_to, registry=registry_of(fleet=package))
            results.put(("ok", tuple(step.version for step in undone.rolled_back)))
        connection.close()
    except BaseException as error:  # everything goes back to the parent
        results.put(("error", f"{type(error).__name__}: {error}"))


def run_fleet(
    connect: Callable[[], Any], package: str, members: int = RUNNERS, rollback_to: int | None = None
) -> list[tuple[str, Any]]:
    """Fork ``members`` processes that each ``connect()`` and migrate (or roll back to ``rollback_to``) at once.

    Returns each member's outcome: ``("ok", versions applied or rolled back)`` or ``("error", message)``.
    """
    return fork_together(_member, [(connect, package, rollback_to)] * members)


def fork_together(member: Callable[..., None], arguments: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Fork one process per tuple of ``arguments``, each calling ``member(*its_arguments, barrier, results)``.

    ``member`` waits at ``barrier`` (all start their work at once) and puts its
    outcome on ``results``. Returns the outcomes, in the order they arrived;
    every process must exit with status 0.
    """
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(arguments))
    results = context.Queue()
    processes = [context.Process(target=member, args=(*each, barrier, results)) for each in arguments]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=180) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return outcomes


def assert_each_applied_once(outcomes: Sequence[tuple[str, Any]], expected: Sequence[int]) -> None:
    """Every member succeeded and every expected version was applied by exactly one of them."""
    assert [detail for status, detail in outcomes if status != "ok"] == []
    applied = Counter(v for _, versions in outcomes for v in versions)
    assert sorted(applied) == sorted(expected)
    assert set(applied.values()) == {1}, f"a migration was applied more than once: {applied}"
