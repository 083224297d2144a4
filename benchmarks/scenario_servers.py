"""(7) PostgreSQL and MariaDB: the no-op and the 1000-migration run against private servers vs the driver by hand.

The servers are the test suite's (tests/servers.py), started in a temporary
directory and stopped afterwards. Each round of the apply benchmark gets
fresh databases. The hand loop: per migration ``BEGIN``, its statements, the
history ``INSERT``, ``COMMIT`` (on MariaDB the DDL also commits by itself, as it must). Round trips are counted at the connection
(:mod:`benchmarks.roundtrips`) and reported per migration.
"""

from __future__ import annotations

import itertools
import sys
import time
from typing import Any, Callable

from . import peers
from .context import ROOT, Context
from .results import Row
from .roundtrips import counting_mysql_class, traced_postgres
from .timing import Outcome, Sample, Subject, interleave, stopwatch
from .workload import APPLIED_ON, HISTORY, HISTORY_DDL, Planned, bulk_registry, planned

NAME = "servers"
HAND = "hand loop (driver)"
OURS = "nocodo-agents"
FLOOR = "floor (read history)"
_names = itertools.count()


def _start(kind: str) -> Any:
    """Start the private server of ``kind`` (tests/servers.py), or raise why it cannot run here."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import servers
    finally:
        sys.path.remove(str(ROOT / "tests"))
    server = {"postgresql": servers.PostgresServer, "mariadb": servers.MariaDBServer}[kind]()
    return server.start()


class _Postgres:
    """Connections and the hand loop on the private PostgreSQL."""

    dialect = "postgresql"

    def __init__(self, server: Any) -> None:
        self.server = server

    def new_database(self) -> str:
        name = f"bench_{next(_names)}"
        self.server.create_database(name)
        return name

    def connect(self, database: str, autocommit: bool = True) -> Any:
        import psycopg

        return psycopg.connect(self.server.dsn(database), autocommit=True)

    def counted(self, connection: Any, counter: list[int]) -> Any:
        return traced_postgres(connection, counter)

    def hand_loop(self, connection: Any, plan: list[Planned]) -> None:
        connection.execute(HISTORY_DDL)
        for p in plan:
            with connection.transaction():
                for statement in p.statements:
                    connection.execute(statement)
                connection.execute(f"INSERT INTO {HISTORY}(version, name, applied_on, checksum, agent) VALUES (%s, %s, %s, %s, %s)",
                                   (p.version, p.name, APPLIED_ON, p.checksum, p.agent))

    def read_history(self, connection: Any) -> int:
        return len(connection.execute(f"SELECT * FROM {HISTORY}").fetchall())


class _Counter:
    """Context manager adding a PyMySQL counting connection's commands to a counter."""

    def __init__(self, connection: Any, counter: list[int]) -> None:
        self.connection, self.counter = connection, counter

    def __enter__(self) -> None:
        self.start = self.connection.commands

    def __exit__(self, *exc: object) -> None:
        self.counter[0] += self.connection.commands - self.start


class _MariaDB:
    """Connections and the hand loop on the private MariaDB."""

    dialect = "mysql"

    def __init__(self, server: Any) -> None:
        self.server = server
        self.connection_class = counting_mysql_class()

    def new_database(self) -> str:
        name = f"bench_{next(_names)}"
        self.server.create_database(name)
        return name

    def connect(self, database: str, autocommit: bool = False) -> Any:
        return self.connection_class(host=self.server.host, port=self.server.port, user=self.server.user, password="",
                                     database=database, autocommit=autocommit)

    def counted(self, connection: Any, counter: list[int]) -> Any:
        return _Counter(connection, counter)

    def hand_loop(self, connection: Any, plan: list[Planned]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(HISTORY_DDL)
            for p in plan:
                connection.begin()
                for statement in p.statements:
                    cursor.execute(statement)
                cursor.execute(f"INSERT INTO {HISTORY}(version, name, applied_on, checksum, agent) VALUES (%s, %s, %s, %s, %s)",
                               (p.version, p.name, APPLIED_ON, p.checksum, p.agent))
                connection.commit()

    def read_history(self, connection: Any) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {HISTORY}")
            return len(cursor.fetchall())


def _apply_subject(db: Any, work: Callable[[Any], object], counter: list[int]) -> Subject:
    """Fresh database and connection (untimed), then time ``work(connection)`` while counting round trips."""
    def subject() -> Sample:
        connection = db.connect(db.new_database())
        try:
            before = counter[0]
            with db.counted(connection, counter):
                started = time.perf_counter()
                work(connection)
                seconds = time.perf_counter() - started
            return Sample(seconds, {"roundtrips": counter[0] - before})
        finally:
            connection.close()
    return subject


def _measure(ctx: Context, label: str, db: Any) -> None:
    from nocodo_agents.runner import run_agent_migrations

    n = 20 if ctx.quick else min(1000, ctx.max_n)
    plan = planned(bulk_registry(n), db.dialect)
    ours_counter, hand_counter = [0], [0]
    subjects: dict[str, Subject] = {
        HAND: _apply_subject(db, lambda c: db.hand_loop(c, plan), hand_counter),
        OURS: _apply_subject(db, lambda c: run_agent_migrations(c, registry=bulk_registry(n)), ours_counter),
    }
    bench = f"{label}: {n} migrations, fresh database"
    outcomes = interleave(subjects, ctx.rounds(3), reference=HAND)
    ctx.results.add_outcomes(bench, outcomes, _roundtrip_notes(outcomes, len(plan)))
    # the no-op: an up-to-date database, a connection kept open
    database = db.new_database()
    connection = db.connect(database, autocommit=True)  # the floor's read must not leave a transaction open
    registry = bulk_registry(0)
    run_agent_migrations(connection, registry=registry)
    noop_counter: list[int] = [0]
    floor_counter: list[int] = [0]

    def counted(counter: list[int], work: Callable[[], object]) -> Sample:
        before = counter[0]
        with db.counted(connection, counter):
            sample = stopwatch(work)
        sample.counts["roundtrips"] = counter[0] - before
        return sample

    noop: dict[str, Subject] = {
        FLOOR: lambda: counted(floor_counter, lambda: db.read_history(connection)),
        f"{OURS} no-op": lambda: counted(noop_counter, lambda: run_agent_migrations(connection, registry=registry)),
    }
    outcomes = interleave(noop, ctx.rounds(50), reference=FLOOR)
    ctx.results.add_outcomes(f"{label}: no-op (core, open connection)", outcomes,
                             {name: f"{o.count('roundtrips'):.0f} round trips" for name, o in outcomes.items() if o.samples})
    connection.close()


def _roundtrip_notes(outcomes: dict[str, Outcome], total: int) -> dict[str, str]:
    notes = {}
    for name, outcome in outcomes.items():
        trips = outcome.count("roundtrips")
        if trips is not None and outcome.median is not None:
            notes[name] = f"{trips / total:.2f} round trips/migration, {outcome.median / total * 1e3:.3f} ms/migration"
    return notes


def run(ctx: Context) -> None:
    """PostgreSQL, then MariaDB; a server or driver missing here is a row saying so."""
    for label, kind, driver, wrapper in (("PostgreSQL", "postgresql", "psycopg", _Postgres), ("MariaDB", "mariadb", "pymysql", _MariaDB)):
        if not peers.installed(driver):
            ctx.results.skip(label, OURS, peers.missing(driver))
            continue
        try:
            server = _start(kind)
        except BaseException as error:  # tests/servers.py skips (pytest's Skipped is a BaseException) when a server is missing
            if isinstance(error, KeyboardInterrupt):
                raise
            ctx.results.rows.append(Row(label, OURS, None, None, f"server not available: {error}"))
            continue
        try:
            _measure(ctx, label, wrapper(server))
        finally:
            server.stop()
