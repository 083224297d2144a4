"""SQLite's O(1) guard: ``PRAGMA data_version`` tells the apply loop whether another runner committed in between.

Before each migration, under the lock, the loop reads ``PRAGMA data_version``
(:meth:`~nocodo_agents.dialects.Dialect.change_token`): SQLite changes it for
a connection whenever another connection, in this process or another,
commits. Unchanged, the history is as this run left it and no query counts
and sums the history (which made n migrations read O(n^2) rows inside the
database); changed, the full guard runs and, if the history changed, the run
plans again. Here another runner works between two of a run's transactions
without any callback of the run: the connection runs it right before its
``BEGIN IMMEDIATE`` (no transaction of the run is open then), from a second
connection of this process and from a second process. It applies the rest,
rolls back one migration and applies another agent's, widens the history, or
commits something unrelated. The run applies nothing twice, plans around
what it finds, and records 64-bit checksums once the history is 64-bit.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

from nocodo_agents.checksum import checksum
from nocodo_agents.runner import run_agent_migrations

#: The agents both runners load: written to a module both processes import.
AGENTS = '''
import types
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.hookspecs import hookimpl
from nocodo_agents.migration import Migration


def _plugin(name, migrations):
    @hookimpl
    def nocodo_agents_migrations():
        return migrations

    plugin = types.ModuleType(name)
    plugin.nocodo_agents_migrations = nocodo_agents_migrations
    return plugin


def tables(first, last):
    return [
        Migration(v, f"create_g_{v}", f"CREATE TABLE g_{v} (id INTEGER)", rollback=f"DROP TABLE g_{v}")
        for v in range(first, last + 1)
    ]


def registry(extra=False):
    """Core, agent bulk (V100-V104) and, with extra, agent late (V500)."""
    plugins = {"bulk": _plugin("token_bulk", tables(100, 104))}
    if extra:
        plugins["late"] = _plugin("token_late", tables(500, 500))
    return AgentRegistry.from_plugins(plugins)
'''

#: What the other runner does, by name: Python run with ``conn`` open on the database.
WORK = {
    "apply_the_rest": "run_agent_migrations(conn, registry=agents.registry())",
    "swap": (
        "rollback_migrations(conn, 99, ['bulk'], registry=agents.registry())\n"
        "run_agent_migrations(conn, ['late'], registry=agents.registry(extra=True))"
    ),
    "widen": "widen_history(conn, registry=agents.registry())",
    "unrelated": "conn.execute('CREATE TABLE unrelated (id INTEGER)'); conn.commit()",
}


class Interleaving(sqlite3.Connection):
    """A real connection that lets another runner work right before its n-th ``BEGIN IMMEDIATE``, and keeps what it sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.begins = 0
        self.before_begin: dict[int, Callable[[], None]] = {}
        self.sent: list[str] = []

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        self.sent.append(sql)
        if sql == "BEGIN IMMEDIATE":
            self._begin()
        return super().execute(sql, *args)

    def executescript(self, script: str) -> sqlite3.Cursor:  # type: ignore[override]
        """A migration sent with its transaction as one script (``BEGIN IMMEDIATE;`` first): the same hook."""
        self.sent.append(script)
        if script.startswith("BEGIN IMMEDIATE;"):
            self._begin()
        return super().executescript(script)

    def _begin(self) -> None:
        self.begins += 1
        work = self.before_begin.pop(self.begins, None)
        if work is not None:
            work()

    def token_reads(self) -> int:
        """How many times ``PRAGMA data_version`` was asked."""
        return sum(1 for sql in self.sent if sql == "PRAGMA data_version")

    def scripts(self) -> int:
        return sum(1 for sql in self.sent if sql.startswith("BEGIN IMMEDIATE;"))

    def guards(self) -> int:
        """How many full guard queries (count and sum of the history) were sent."""
        return sum(1 for sql in self.sent if sql.startswith("SELECT (SELECT COUNT(*)"))

    def history_reads(self) -> int:
        return sum(1 for sql in self.sent if sql.startswith("SELECT version, name") and sql.endswith("ORDER BY version"))


@pytest.fixture
def agents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    (tmp_path / "token_agents.py").write_text(AGENTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import token_agents

    return importlib.reload(token_agents)


def other_runner(where: str, database: Path, work: str, agents: Any) -> Callable[[], None]:
    """The other runner's ``work``: from a second connection of this process, or from a second process."""
    if where == "connection":

        def in_process() -> None:
            from nocodo_agents.engine.rollback import rollback_migrations
            from nocodo_agents.engine.widening import widen_history

            conn = sqlite3.connect(database)
            try:
                exec(WORK[work], {"conn": conn, "agents": agents, "run_agent_migrations": run_agent_migrations,
                                  "rollback_migrations": rollback_migrations, "widen_history": widen_history})
            finally:
                conn.close()

        return in_process
    script = textwrap.dedent(
        f"""
        import sqlite3, sys
        sys.path.insert(0, {str(database.parent)!r})
        import token_agents as agents
        from nocodo_agents.runner import run_agent_migrations
        from nocodo_agents.engine.rollback import rollback_migrations
        from nocodo_agents.engine.widening import widen_history
        conn = sqlite3.connect({str(database)!r})
        """
    ) + WORK[work] + "\nconn.close()\n"

    def in_another_process() -> None:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    return in_another_process


def versions(database: Path) -> list[int]:
    conn = sqlite3.connect(database)
    try:
        return [row[0] for row in conn.execute("SELECT version FROM refinery_schema_history ORDER BY version")]
    finally:
        conn.close()


WHERE = ["connection", "process"]


@pytest.mark.parametrize("where", WHERE)
def test_another_runner_applying_the_rest_between_two_transactions_is_seen(tmp_path: Path, agents: Any, where: str) -> None:
    database = tmp_path / "token.sqlite"
    conn = sqlite3.connect(database, factory=Interleaving)
    conn.before_begin[5] = other_runner(where, database, "apply_the_rest", agents)  # after V1-V3 and V100
    report = run_agent_migrations(conn, registry=agents.registry())
    assert report.versions == (1, 2, 3, 100), "the other runner applied V101-V104: none of them twice"
    assert versions(database) == [1, 2, 3, 100, 101, 102, 103, 104]
    conn.close()


@pytest.mark.parametrize("where", WHERE)
def test_a_rollback_and_another_agents_apply_between_two_transactions_is_seen(tmp_path: Path, agents: Any, where: str) -> None:
    """Same number of rows, other versions: the run plans again and applies V100 again."""
    database = tmp_path / "token.sqlite"
    conn = sqlite3.connect(database, factory=Interleaving)
    conn.before_begin[5] = other_runner(where, database, "swap", agents)
    report = run_agent_migrations(conn, ["bulk"], registry=agents.registry(extra=True))
    assert report.versions == (1, 2, 3, 100, 100, 101, 102, 103, 104)
    assert versions(database) == [1, 2, 3, 100, 101, 102, 103, 104, 500]
    conn.close()


@pytest.mark.parametrize("where", WHERE)
def test_another_runner_widening_the_history_between_two_transactions_is_seen(tmp_path: Path, agents: Any, where: str) -> None:
    """The rows written after the widening hash their version as i64, as every row of a 64-bit history must."""
    database = tmp_path / "token.sqlite"
    conn = sqlite3.connect(database, factory=Interleaving)
    conn.before_begin[6] = other_runner(where, database, "widen", agents)  # after V1-V3, V100, V101
    report = run_agent_migrations(conn, registry=agents.registry())
    assert report.versions == (1, 2, 3, 100, 101, 102, 103, 104)
    rows = sqlite3.connect(database).execute("SELECT version, name, checksum FROM refinery_schema_history").fetchall()
    sql = {v: f"CREATE TABLE g_{v} (id INTEGER)" for v in range(100, 105)}
    for version, name, recorded in rows:
        if version >= 100:
            assert recorded == str(checksum(name, version, sql[version], True)), f"V{version} recorded in the 64-bit encoding"
    assert run_agent_migrations(sqlite3.connect(database), registry=agents.registry()).applied == (), "verifies"
    conn.close()


@pytest.mark.parametrize("where", WHERE)
def test_an_unrelated_commit_costs_one_full_guard_and_no_new_plan(tmp_path: Path, agents: Any, where: str) -> None:
    database = tmp_path / "token.sqlite"
    quiet = sqlite3.connect(tmp_path / "quiet.sqlite", factory=Interleaving)
    run_agent_migrations(quiet, registry=agents.registry())
    conn = sqlite3.connect(database, factory=Interleaving)
    conn.before_begin[5] = other_runner(where, database, "unrelated", agents)
    report = run_agent_migrations(conn, registry=agents.registry())
    assert report.versions == (1, 2, 3, 100, 101, 102, 103, 104)
    assert conn.guards() == quiet.guards() + 1, "the changed data_version sent one full guard; it found the history as left"
    assert conn.history_reads() == quiet.history_reads(), "and the run did not read the history again"
    conn.close()
    quiet.close()


def test_the_full_guard_runs_a_fixed_number_of_times_whatever_the_number_of_migrations(tmp_path: Path, agents: Any) -> None:
    """Counted: one full guard per run (the second transaction's, before any token was read under the lock); one data_version per transaction.

    The first transaction creates the history table and applies V1; the
    second (V2) runs the full guard and reads the token; from the third on,
    each migration's ``BEGIN IMMEDIATE``, statement and history row go as one
    script, then ``PRAGMA data_version`` and ``COMMIT`` (``sqlite_scripts.py``);
    the last finds nothing pending.
    """
    conn = sqlite3.connect(tmp_path / "count.sqlite", factory=Interleaving)
    run_agent_migrations(conn, registry=agents.registry())
    assert conn.guards() == 1
    assert conn.token_reads() == conn.begins - 1
    assert conn.scripts() == 6, "V3 and V100-V104, each in one script"
    assert conn.history_reads() == 1, "a fresh file: read once, under the lock, once the history table was created"
    conn.close()
