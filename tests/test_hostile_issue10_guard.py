"""Hostile tests of issue 10's apply loop: the one-row guard asked under the lock before each migration.

The run plans once; before each migration it asks how many versions the
history holds (and their sum) and whether the next version is recorded, and
plans again only when that differs from what it wrote itself. Attacks: another
runner that rolls back one of this run's migrations and applies another
agent's between two of its transactions (the count is unchanged: the guard
compared only the count and missed it, so the run skipped the rolled-back
migration and the next one failed on its missing table), the same with
``target=``, an edited file applied meanwhile, and fleets of runners with
different agent sets, with adoption of a history-less database, on every
dialect. (MySQL holds its lock for the whole run: nobody gets in between its
transactions, which the last test shows.)
"""

from __future__ import annotations

import itertools
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import plugin_returning, registry_of
from fleet import fork_together
from fresh_database import connect_to_fresh_database
from fresh_database import query as _query
from fresh_database import versions as _versions

from nocodo_agents import DivergentMigrationError, LockTimeoutError
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import rollback_migrations, verify_database
from nocodo_agents.migration import Migration
from nocodo_agents.runner import MigrationStep, run_agent_migrations

_names = itertools.count()


def chain(last: int = 101, *, edited: bool = False) -> AgentRegistry:
    """Core and agent ``chain``: V100 creates ``t`` (with a rollback), each later version adds a column to it."""
    create = "CREATE TABLE t (id INTEGER, edited INTEGER)" if edited else "CREATE TABLE t (id INTEGER)"
    migrations = [Migration(100, "create_t", create, rollback="DROP TABLE t")]
    migrations += [Migration(v, f"add_c{v}", f"ALTER TABLE t ADD COLUMN c{v} INTEGER", rollback=f"ALTER TABLE t DROP COLUMN c{v}") for v in range(101, last + 1)]
    return AgentRegistry.from_plugins({"chain": plugin_returning(migrations)})


def late() -> AgentRegistry:
    """Core and agent ``late``: V500 creates ``l``."""
    return AgentRegistry.from_plugins({"late": plugin_returning([Migration(500, "create_l", "CREATE TABLE l (id INTEGER)")])})


def _once(action: Callable[[], None], when: int) -> Callable[[MigrationStep], None]:
    """A progress callback running ``action`` after the first commit of version ``when`` only."""
    done: list[int] = []

    def progress(step: MigrationStep) -> None:
        if step.version == when and not done:
            done.append(when)
            action()

    return progress


@pytest.fixture(params=["sqlite", "postgresql"])
def connect(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    """Opens a new connection to one fresh database each time it is called (the lock is per transaction there)."""
    return connect_to_fresh_database(request, tmp_path, "hostile10_guard")


def test_a_rollback_and_another_agents_apply_between_two_migrations_is_seen(connect: Callable[[], Any]) -> None:
    """Same number of rows, other versions: the run plans again, applies V100 again, and V101 finds its table."""
    first, second = connect(), connect()

    def swap() -> None:
        assert [s.version for s in rollback_migrations(second, 99, ["chain"], registry=chain()).rolled_back] == [100]
        assert run_agent_migrations(second, registry=late()).versions == (500,)

    report = run_agent_migrations(first, registry=chain(), progress=_once(swap, 100))
    assert report.versions == (1, 2, 3, 100, 100, 101), "V100 was rolled back meanwhile: applied again"
    assert [step.version for step in report.out_of_order] == [100, 101], "V500 is applied now"
    assert _versions(first) == [1, 2, 3, 100, 101, 500]
    assert _query(first, "SELECT c101 FROM t") == []
    first.close()
    second.close()


def test_with_a_target_a_swap_is_seen_and_the_target_kept(connect: Callable[[], Any]) -> None:
    """Another runner rolls back V100 and applies V500: this run (target V102) applies V100 again, V101, V102, not V103."""
    first, second = connect(), connect()

    def swap() -> None:
        rollback_migrations(second, 99, ["chain"], registry=chain(103))
        assert run_agent_migrations(second, registry=late()).versions == (500,)

    report = run_agent_migrations(first, registry=chain(103), target=102, progress=_once(swap, 100))
    assert report.versions == (1, 2, 3, 100, 100, 101, 102)
    assert [step.version for step in report.out_of_order] == [100, 101, 102]
    assert _versions(first) == [1, 2, 3, 100, 101, 102, 500]
    first.close()
    second.close()


def test_an_edited_migration_applied_meanwhile_stops_the_run_as_divergent(connect: Callable[[], Any]) -> None:
    """Another runner with an edited V101 applies it between this run's V100 and V101: planning again finds it."""
    first, second = connect(), connect()
    edited = AgentRegistry.from_plugins({"chain": plugin_returning([
        Migration(100, "create_t", "CREATE TABLE t (id INTEGER)", rollback="DROP TABLE t"),
        Migration(101, "add_c101", "ALTER TABLE t ADD COLUMN c101 VARCHAR(10)"),
    ])})

    def other() -> None:
        assert run_agent_migrations(second, registry=edited).versions == (101,)

    with pytest.raises(DivergentMigrationError) as raised:
        run_agent_migrations(first, registry=chain(102), progress=_once(other, 100))
    assert raised.value.version == 101
    assert _versions(first) == [1, 2, 3, 100, 101], "V102 was not applied on top of a divergent V101"
    first.close()
    second.close()


def test_an_edited_migration_swapped_in_meanwhile_is_caught_by_the_next_run(connect: Callable[[], Any]) -> None:
    """Rolled back and applied again from an edited file: count and versions unchanged, so this run goes on.

    Its checksums are verified once per run, when it plans: the divergence
    another runner creates afterwards is caught by the next run and by
    ``verify``, not by the run it happened under.
    """
    first, second = connect(), connect()

    def edit() -> None:
        rollback_migrations(second, 99, ["chain"], registry=chain())
        assert run_agent_migrations(second, registry=chain(100, edited=True)).versions == (100,)

    run_agent_migrations(first, registry=chain(), progress=_once(edit, 100))
    assert _versions(first) == [1, 2, 3, 100, 101]
    with pytest.raises(DivergentMigrationError) as raised:
        run_agent_migrations(first, registry=chain())
    assert raised.value.version == 100
    assert [d.version for d in verify_database(first, registry=chain()).divergent] == [100]
    first.close()
    second.close()


# -- fleets with different agent sets, with and without adoption, on every dialect ---------------


def _fleet_member(connect: Callable[[], Any], packages: dict[str, str], barrier: Any, results: Any) -> None:
    try:
        connection = connect()
        barrier.wait(timeout=60)
        report = run_agent_migrations(connection, registry=registry_of(**packages))
        results.put(("ok", report.versions, tuple(step.version for step in report.adopted)))
        connection.close()
    except BaseException as error:  # everything goes back to the parent
        results.put(("error", f"{type(error).__name__}: {error}", ()))


def _mixed_fleet(connect: Callable[[], Any], agent_sets: list[dict[str, str]]) -> list[tuple[str, Any, Any]]:
    return fork_together(_fleet_member, [(connect, packages) for packages in agent_sets])


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def fleet_db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Callable[[], Any], Callable[[str], None]]:
    """``(connect, run_sql)`` for one fresh database: a picklable-by-fork connect, and a way to prepare it."""
    name = f"hostile10_fleet_{next(_names)}"
    if request.param == "sqlite":
        path = tmp_path / "fleet.sqlite"
        def connect() -> Any:
            return sqlite3.connect(path)
    elif request.param == "postgresql":
        import psycopg

        server = request.getfixturevalue("postgres_server")
        server.create_database(name)
        def connect():
            return psycopg.connect(server.dsn(name))
    else:
        server = request.getfixturevalue("mariadb_server")
        server.create_database(name)
        def connect():
            return server.connect(name)

    def run_sql(sql: str) -> None:
        conn = connect()
        conn.cursor().execute(sql)
        conn.commit()
        conn.close()

    return connect, run_sql


def _packages(agent_package: Callable[..., str]) -> tuple[str, str]:
    a = agent_package({f"V{v}__a_{v}": f"CREATE TABLE fa_{v} (id INTEGER);" for v in (100, 102, 104, 106)})
    b = agent_package({f"V{v}__b_{v}": f"CREATE TABLE fb_{v} (id INTEGER);" for v in (101, 103, 105)})
    return a, b


def _applied(outcomes: list[tuple[str, Any, Any]]) -> Counter:
    assert [detail for status, detail, _ in outcomes if status != "ok"] == []
    return Counter(v for _, versions, _ in outcomes for v in versions)


def test_a_fleet_with_different_agent_sets_applies_each_migration_once(fleet_db, agent_package) -> None:
    connect, _ = fleet_db
    a, b = _packages(agent_package)
    outcomes = _mixed_fleet(connect, [{"a": a} if i % 2 else {"a": a, "b": b} for i in range(8)])
    applied = _applied(outcomes)
    assert sorted(applied) == [1, 2, 3, 100, 101, 102, 103, 104, 105, 106]
    assert set(applied.values()) == {1}, f"a migration was applied more than once: {applied}"
    conn = connect()
    assert _versions(conn) == [1, 2, 3, 100, 101, 102, 103, 104, 105, 106]
    conn.close()


def test_a_fleet_adopting_a_history_less_database_adopts_once_and_applies_the_rest_once(fleet_db, agent_package) -> None:
    """V100's table exists and there is no history: one runner adopts V100, each later migration is applied once."""
    connect, run_sql = fleet_db
    a, b = _packages(agent_package)
    run_sql("CREATE TABLE fa_100 (id INTEGER)")
    outcomes = _mixed_fleet(connect, [{"a": a} if i % 2 else {"a": a, "b": b} for i in range(8)])
    applied = _applied(outcomes)
    adopted = Counter(v for _, _, versions in outcomes for v in versions)
    assert adopted == Counter({100: 1}), "V100 adopted by exactly one runner"
    assert 100 not in applied
    assert sorted(applied) == [1, 2, 3, 101, 102, 103, 104, 105, 106]
    assert set(applied.values()) == {1}, f"a migration was applied more than once: {applied}"
    conn = connect()
    assert _versions(conn) == [1, 2, 3, 100, 101, 102, 103, 104, 105, 106]
    conn.close()


def test_on_mariadb_nobody_gets_in_between_a_runs_transactions(mariadb_server) -> None:
    """MySQL's lock is held for the whole run: another runner (lock_timeout=0) times out between its migrations."""
    name = f"hostile10_hold_{next(_names)}"
    mariadb_server.create_database(name)
    first, second = mariadb_server.connect(name), mariadb_server.connect(name)
    timed_out: list[BaseException | None] = []

    def other() -> None:
        with pytest.raises(LockTimeoutError) as raised:
            rollback_migrations(second, 99, ["chain"], registry=chain(), lock_timeout=0)
        timed_out.append(raised.value)

    report = run_agent_migrations(first, registry=chain(102), progress=_once(other, 100))
    assert report.versions == (1, 2, 3, 100, 101, 102)
    assert len(timed_out) == 1
    assert _versions(first) == [1, 2, 3, 100, 101, 102]
    first.close()
    second.close()
