"""PostgreSQL's O(1) guard: transaction ids tell the apply loop whether anybody else wrote in between.

Before each migration, under the lock, the guard travels with ``BEGIN`` and
the try for the lock, and counts and sums the history only if the snapshot
shows that another transaction took an id since the run last confirmed it
(see ``dialects/postgresql/batched.py``). Here another runner works between
two of a run's transactions without any callback of the run: the
connection runs it right before the message that opens the run's n-th
transaction (none of the run's transactions is open then), from a second
connection. It applies the rest, rolls back one migration and applies
another agent's, or commits something unrelated. The run applies nothing
twice and plans around what it finds; counted with the server's statistics,
the guard scans the history only after someone else wrote.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

import psycopg
import pytest
from conftest import plugin_returning

from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.engine.rollback import rollback_migrations
from nocodo_agents.migration import Migration
from nocodo_agents.runner import run_agent_migrations

_names = itertools.count()

#: How the runner's connection opens each of its transactions (see ``dialects/postgresql/lock.py``).
_OPENS = "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_try_advisory_xact_lock("


def _tables(first: int, last: int) -> list[Migration]:
    return [
        Migration(v, f"create_g_{v}", f"CREATE TABLE g_{v} (id INTEGER)", rollback=f"DROP TABLE g_{v}")
        for v in range(first, last + 1)
    ]


def registry(*, extra: bool = False) -> AgentRegistry:
    """Core, agent ``bulk`` (V100-V104) and, with ``extra``, agent ``late`` (V500)."""
    plugins = {"bulk": plugin_returning(_tables(100, 104))}
    if extra:
        plugins["late"] = plugin_returning(_tables(500, 500))
    return AgentRegistry.from_plugins(plugins)


class Interleaving(psycopg.Connection):  # type: ignore[type-arg]
    """A real connection that lets another runner work right before its n-th transaction is opened.

    psycopg sends every statement through :meth:`wait`, given the generator
    that will send it; the statement's text is that generator's argument.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened = 0
        self.before_opening: dict[int, Callable[[], None]] = {}

    def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        frame = getattr(gen, "gi_frame", None)
        query = frame.f_locals.get("query") if frame is not None else None
        if isinstance(query, str) and query.startswith(_OPENS):
            self.opened += 1
            work = self.before_opening.pop(self.opened, None)
            if work is not None:
                work()
        return super().wait(gen, *args, **kwargs)


@pytest.fixture
def database(postgres_server) -> tuple[Any, str]:
    name = f"pgtoken_{next(_names)}"
    postgres_server.create_database(name)
    return postgres_server, postgres_server.dsn(name)


def versions(dsn: str) -> list[int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM refinery_schema_history ORDER BY version")]


def history_scans(conn: Any, dsn: str) -> int:
    """The history's sequential scans so far (the full guard's count and sum scan it; the fast one does not)."""
    conn.autocommit = True
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")  # idle again: the statistics are sent
    with psycopg.connect(dsn, autocommit=True) as observer:
        return int(observer.execute("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'refinery_schema_history'").fetchone()[0])


def other_runner(dsn: str, work: Callable[[Any], None]) -> Callable[[], None]:
    def run() -> None:
        with psycopg.connect(dsn) as conn:
            work(conn)

    return run


def test_another_runner_applying_the_rest_between_two_transactions_is_seen(database: tuple[Any, str]) -> None:
    _, dsn = database
    conn = Interleaving.connect(dsn)
    conn.before_opening[5] = other_runner(dsn, lambda other: run_agent_migrations(other, registry=registry()))  # after V1-V3, V100
    report = run_agent_migrations(conn, registry=registry())
    assert report.versions == (1, 2, 3, 100), "the other runner applied V101-V104: none of them twice"
    assert versions(dsn) == [1, 2, 3, 100, 101, 102, 103, 104]
    conn.close()


def test_a_rollback_and_another_agents_apply_between_two_transactions_is_seen(database: tuple[Any, str]) -> None:
    """Same number of rows, other versions: the run plans again and applies V100 again."""
    _, dsn = database

    def swap(other: Any) -> None:
        rollback_migrations(other, 99, ["bulk"], registry=registry(extra=True))
        run_agent_migrations(other, ["late"], registry=registry(extra=True))

    conn = Interleaving.connect(dsn)
    conn.before_opening[5] = other_runner(dsn, swap)
    report = run_agent_migrations(conn, ["bulk"], registry=registry(extra=True))
    assert report.versions == (1, 2, 3, 100, 100, 101, 102, 103, 104)
    assert versions(dsn) == [1, 2, 3, 100, 101, 102, 103, 104, 500]
    conn.close()


def test_an_unrelated_commit_costs_one_full_guard_and_no_new_plan(database: tuple[Any, str]) -> None:
    server, dsn = database
    quiet_name = f"pgtoken_{next(_names)}"
    server.create_database(quiet_name)
    quiet_dsn = server.dsn(quiet_name)
    quiet = Interleaving.connect(quiet_dsn)
    run_agent_migrations(quiet, registry=registry())

    def unrelated(other: Any) -> None:
        other.execute("CREATE TABLE unrelated (id INTEGER)")
        other.commit()

    conn = Interleaving.connect(dsn)
    conn.before_opening[5] = other_runner(dsn, unrelated)
    report = run_agent_migrations(conn, registry=registry())
    assert report.versions == (1, 2, 3, 100, 101, 102, 103, 104)
    # the full guard scans the history twice (its count and its sum)
    assert history_scans(conn, dsn) == history_scans(quiet, quiet_dsn) + 2, "one full guard, after the unrelated commit"
    conn.close()
    quiet.close()


def test_another_agents_migration_applied_between_two_transactions_is_planned_around(database: tuple[Any, str]) -> None:
    _, dsn = database
    late = AgentRegistry.from_plugins({"late": plugin_returning(_tables(500, 500))})
    conn = Interleaving.connect(dsn)
    conn.before_opening[6] = other_runner(dsn, lambda other: run_agent_migrations(other, registry=late))  # after V101
    report = run_agent_migrations(conn, registry=registry())
    assert report.versions == (1, 2, 3, 100, 101, 102, 103, 104)
    assert [step.version for step in report.out_of_order] == [102, 103, 104], "planned again: V500 is applied now"
    assert versions(dsn) == [1, 2, 3, 100, 101, 102, 103, 104, 500]
    conn.close()
