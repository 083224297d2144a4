"""A fleet of runners starting at once on one SQLite file applies each migration exactly once."""

import multiprocessing
import sqlite3
from collections import Counter

from conftest import registry_of
from nocodo_agents.database.migrations import run_agent_migrations

RUNNERS = 16


def _runner(db_path: str, package: str, barrier, results) -> None:
    try:
        connection = sqlite3.connect(db_path, timeout=0.1)  # the runner's lock_timeout governs waits
        barrier.wait(timeout=60)
        report = run_agent_migrations(connection, registry=registry_of(fleet=package))
        results.put(("ok", report.versions))
        connection.close()
    except BaseException as error:  # report everything to the parent
        results.put(("error", f"{type(error).__name__}: {error}"))


def test_sixteen_runners_at_once(tmp_path, agent_package) -> None:
    package = agent_package({f"V{v}__fleet_{v}": f"CREATE TABLE fleet_{v} (id INTEGER);" for v in range(4, 14)})
    db_path = str(tmp_path / "fleet.sqlite")
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(RUNNERS)
    results = context.Queue()
    processes = [context.Process(target=_runner, args=(db_path, package, barrier, results)) for _ in range(RUNNERS)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    errors = [detail for status, detail in outcomes if status != "ok"]
    assert errors == []
    applied = Counter(v for _, versions in outcomes for v in versions)
    assert sorted(applied) == list(range(1, 14))
    assert set(applied.values()) == {1}, f"a migration was applied twice: {applied}"
    connection = sqlite3.connect(db_path)
    rows = connection.execute("SELECT version FROM refinery_schema_history ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, 14))
    connection.close()
