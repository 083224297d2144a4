"""Model check: random histories of agents and runs against a tiny reference model (SQLite).

A hypothesis state machine drives the real runner (``run_agent_migrations``,
``rollback_migrations``, ``migration_status``, ``verify_database``) against a
real SQLite file, through random sequences of: installing an agent (a random
name and random versions, each migration creating its own table ``t_<v>``
holding one row, most with a rollback dropping it), adding migrations to an
installed agent (ordinary ones, possibly lower than applied versions; ones
failing at their third statement; ones orphaning a row behind a foreign
key), fixing such a migration, uninstalling and reinstalling agents, editing
an applied migration and restoring it, running migrations (with or without a
target, for real or as a dry run), rolling back to a random version, and
killing a runner (a forked child, SIGKILLed while it holds the write
transaction at a chosen point of a chosen migration, while migrating or
while rolling back).

The model says what each step must do (which versions it applies or rolls
back, which error it raises) and what the database then holds; after every
step the invariants compare the file with it: the history rows (version,
name, agent), exactly one table per applied version holding its row and no
table of any other, an empty ``PRAGMA foreign_key_check``, every ``status``
state (applied, applied-out-of-order, pending, applied-not-installed,
divergent) and ``verify_database``, which is ``ok`` exactly when nothing
installed diverges.

Runs: the default profile is small enough for every test run (about 25
sequences of up to 20 steps). ``NOCODO_AGENTS_MODEL_CHECK=long`` runs a longer
search locally (``NOCODO_AGENTS_MODEL_CHECK=long bash tests/run.sh -q
tests/test_model_check.py``). With ``CI`` set (as ``.ci/run`` sets it) the
examples are derandomized, so a failure in CI reproduces on any machine;
elsewhere hypothesis explores new sequences each run and keeps failing ones
in ``.hypothesis/``.
"""

from __future__ import annotations

import importlib
import itertools
import multiprocessing
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import migration_module, registry_of
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from nocodo_agents import (
    DivergentMigrationError,
    ForeignKeyViolationError,
    MigrationFailedError,
    RollbackUnavailableError,
)
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.lifecycle import rollback_migrations, verify_database
from nocodo_agents.status import (
    APPLIED,
    APPLIED_NOT_INSTALLED,
    APPLIED_OUT_OF_ORDER,
    DIVERGENT,
    PENDING,
    migration_status,
)

# -- profiles --------------------------------------------------------------------------------------

_PROFILES = {
    "default": dict(max_examples=25, stateful_step_count=20),
    "long": dict(max_examples=500, stateful_step_count=40),
}
_PROFILE = os.environ.get("NOCODO_AGENTS_MODEL_CHECK", "default") or "default"
_IN_CI = bool(os.environ.get("CI"))

SETTINGS = settings(
    deadline=None,
    derandomize=_IN_CI,
    database=None if _IN_CI else settings.default.database,
    **_PROFILES[_PROFILE],
)

# -- the migrations the machine writes -------------------------------------------------------------

OK = "ok"  #: creates t_<v> and inserts its row
FAILING = "failing"  #: like OK, then a third statement fails (no such table)
ORPHANING = "orphaning"  #: like OK, then a child row whose parent a later DELETE removes

#: Agents' versions are drawn from here (core has 1-3); small, so that agents interleave.
AGENT_VERSIONS = range(4, 48)
#: Core's migrations: version -> (name, table).
CORE = {
    1: ("create_agent_sessions", "agent_sessions"),
    2: ("create_agent_messages", "agent_messages"),
    3: ("create_agent_tool_calls", "agent_tool_calls"),
}
HISTORY_TABLE = "refinery_schema_history"


def note(version: int, edited: bool) -> str:
    """The value migration ``version`` inserts into its table (an edit changes it, and so the checksum)."""
    return f"v{version} edited" if edited else f"v{version}"


def migration_sql(version: int, kind: str, edited: bool) -> str:
    """The SQL of an agent migration of ``kind``."""
    sql = (
        f"CREATE TABLE t_{version} (id INTEGER PRIMARY KEY, note TEXT NOT NULL);\n"
        f"INSERT INTO t_{version} (id, note) VALUES (1, '{note(version, edited)}');\n"
    )
    if kind == FAILING:
        sql += f"INSERT INTO t_missing_{version} (id) VALUES (1);\n"
    elif kind == ORPHANING:
        sql += (
            f"CREATE TABLE t_{version}_child (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL REFERENCES t_{version} (id));\n"
            f"INSERT INTO t_{version}_child (id, parent) VALUES (1, 1);\n"
            f"DELETE FROM t_{version};\n"
        )
    return sql


@dataclass
class ModelMigration:
    """What the model knows of one installed migration file."""

    version: int
    agent: str
    kind: str = OK
    rollback: bool = True
    edited: bool = False
    core_name: str | None = None

    @property
    def name(self) -> str:
        if self.core_name is not None:
            return self.core_name
        return {OK: f"create_t_{self.version}", FAILING: f"fail_t_{self.version}", ORPHANING: f"orphan_t_{self.version}"}[self.kind]

    @property
    def stem(self) -> str:
        return f"V{self.version}__{self.name}"

    def source(self) -> str:
        """The module's text."""
        return migration_module(
            migration_sql(self.version, self.kind, self.edited),
            rollback=f"DROP TABLE t_{self.version};" if self.rollback else None,
        )


@dataclass
class ModelAgent:
    """An agent package on disk: its migrations and whether it is installed."""

    name: str
    package: str
    migrations: dict[int, ModelMigration]
    installed: bool = True


@dataclass(frozen=True)
class AppliedRow:
    """A history row as the model expects it; ``order`` counts applications, for out-of-order states."""

    name: str
    agent: str
    edited: bool
    order: int


CORE_MIGRATIONS = {v: ModelMigration(v, "core", core_name=name) for v, (name, _) in CORE.items()}

# -- agent packages on disk, fresh for every run of the machine --------------------------------------

_packages = itertools.count()


class PackageDirectory:
    """A temporary directory on ``sys.path`` holding agent packages of migration modules.

    Like conftest's ``agent_package``, but owned by one run of the machine
    (hypothesis runs it many times within one test function). A rewritten
    module is forgotten by the import system, so the next registry imports
    the file as it now is.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nocodo-model-check-"))
        self._names: list[str] = []
        sys.path.insert(0, str(self.root))

    def create(self) -> str:
        """A new, empty package; returns the dotted name of its migrations package."""
        name = f"nocodo_model_agent_{os.getpid()}_{next(_packages)}"
        migrations = self.root / name / "migrations"
        migrations.mkdir(parents=True)
        (self.root / name / "__init__.py").write_text("")
        (migrations / "__init__.py").write_text("")
        self._names.append(name)
        return f"{name}.migrations"

    def write(self, package: str, migration: ModelMigration) -> None:
        (self._directory(package) / f"{migration.stem}.py").write_text(migration.source())
        self._forget(package)

    def remove(self, package: str, stem: str) -> None:
        (self._directory(package) / f"{stem}.py").unlink()
        self._forget(package)

    def close(self) -> None:
        for name in self._names:
            self._forget(name)
        if str(self.root) in sys.path:
            sys.path.remove(str(self.root))
        shutil.rmtree(self.root, ignore_errors=True)

    def _directory(self, package: str) -> Path:
        return self.root.joinpath(*package.split("."))

    def _forget(self, package: str) -> None:
        for module in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[module]
        shutil.rmtree(self._directory(package) / "__pycache__", ignore_errors=True)
        importlib.invalidate_caches()


# -- killing a runner --------------------------------------------------------------------------------

#: Where a migrating child stops, relative to its victim migration V: at V's CREATE TABLE, at its
#: INSERT, at the INSERT of its history row, at the COMMIT of its transaction (all four: V must be
#: absent afterwards), or in the next write transaction, after V committed (V must be applied).
MIGRATION_CRASH_POINTS = ("create", "insert", "history", "commit", "after")
#: Where a rolling-back child stops: at V's DROP TABLE, at the DELETE of its history row, at the
#: COMMIT (V must still be applied), or in the next write transaction (V must be rolled back).
ROLLBACK_CRASH_POINTS = ("drop", "history", "commit", "after")


class _StopAt:
    """A sqlite3 trace callback that, at the chosen statement, reports it and blocks until killed."""

    def __init__(self, connection: sqlite3.Connection, victim: int, point: str, blocked: Any) -> None:
        self.connection = connection
        self.point = point
        self.blocked = blocked
        self.landmarks = {
            "create": f"CREATE TABLE t_{victim} (",
            "insert": f"INSERT INTO t_{victim} (",
            "drop": f"DROP TABLE t_{victim}",
        }
        self.record = (f"INSERT INTO main.{HISTORY_TABLE} ", f"VALUES ({victim}, ")
        self.forget = f"DELETE FROM main.{HISTORY_TABLE} WHERE version = {victim}"
        self.history_written = False
        self.committed = False

    def __call__(self, statement: str) -> None:
        if self._reached(statement):
            self.blocked.set()
            while True:  # until SIGKILL
                time.sleep(1)

    def _reached(self, statement: str) -> bool:
        if self.point in self.landmarks:
            return statement.startswith(self.landmarks[self.point])
        forgets = statement == self.forget or statement.startswith(self.forget + " ")  # ... AND (agent IS NULL OR agent = ...)
        if forgets or (statement.startswith(self.record[0]) and self.record[1] in statement):
            self.history_written = True
            return self.point == "history"
        if self.history_written and not self.committed and statement == "COMMIT":
            self.committed = True
            return self.point == "commit"
        return self.point == "after" and self.committed and self.connection.in_transaction


def _runner_to_kill(
    path: str, packages: dict[str, str], victim: int, point: str, blocked: Any, target: int | None, rollback_to: int | None
) -> None:
    """The child: migrate ``path`` (or roll back to ``rollback_to``), blocking at ``point`` of ``victim``."""
    connection = sqlite3.connect(path)
    connection.set_trace_callback(_StopAt(connection, victim, point, blocked))
    if rollback_to is None:
        run_agent_migrations(connection, registry=registry_of(**packages), target=target)
    else:
        rollback_migrations(connection, rollback_to, registry=registry_of(**packages))


def _write_lock_is_held(path: Path) -> bool:
    """Whether another connection holds the database's write lock (``BEGIN IMMEDIATE`` is refused at once)."""
    with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as probe:
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            return "locked" in str(error)
        probe.execute("ROLLBACK")
        return False


def kill_runner_at(
    path: Path, packages: dict[str, str], victim: int, point: str, *, target: int | None = None, rollback_to: int | None = None
) -> None:
    """Fork a runner, wait until it blocks at ``point`` of ``victim`` holding the write lock, SIGKILL it."""
    context = multiprocessing.get_context("fork")
    blocked = context.Event()
    child = context.Process(
        target=_runner_to_kill, args=(str(path), packages, victim, point, blocked, target, rollback_to), daemon=True
    )
    child.start()
    try:
        give_up = time.monotonic() + 60  # a safety net only: the child normally blocks within milliseconds
        while not blocked.wait(0.05) and child.is_alive() and time.monotonic() < give_up:
            pass
        assert blocked.is_set(), f"the runner to kill never reached {point} of V{victim} (exit code {child.exitcode})"
        assert _write_lock_is_held(path), "the runner to kill does not hold the write lock"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=60)
    assert child.exitcode == -signal.SIGKILL


# -- the machine -------------------------------------------------------------------------------------


class MigrationModel(RuleBasedStateMachine):
    """Agents, edits, runs, rollbacks and crashes on one SQLite file, checked against a model."""

    def __init__(self) -> None:
        super().__init__()
        self.packages = PackageDirectory()
        self.path = self.packages.root / "agents.sqlite"
        self.agents: dict[str, ModelAgent] = {}
        self.applied: dict[int, AppliedRow] = {}
        self.used_versions: set[int] = set(CORE)
        self._orders = itertools.count()

    def teardown(self) -> None:
        self.packages.close()

    # -- the model ---------------------------------------------------------------------------------

    def installed(self) -> dict[int, ModelMigration]:
        """Every installed migration by version: core's and the installed agents'."""
        found = dict(CORE_MIGRATIONS)
        for agent in self.agents.values():
            if agent.installed:
                found.update(agent.migrations)
        return found

    def divergent(self) -> set[int]:
        """Applied versions whose installed file differs from what was applied."""
        installed = self.installed()
        return {
            v for v, row in self.applied.items()
            if v in installed and (installed[v].name, installed[v].edited) != (row.name, row.edited)
        }

    def pending(self, target: int | None = None) -> list[int]:
        return [v for v in sorted(self.installed()) if v not in self.applied and (target is None or v <= target)]

    def registry(self) -> AgentRegistry:
        return registry_of(**self.installed_packages())

    def installed_packages(self) -> dict[str, str]:
        return {agent.name: agent.package for agent in self.agents.values() if agent.installed}

    def record(self, version: int) -> bool:
        """Record ``version`` as applied now; returns whether that is out of order."""
        migration = self.installed()[version]
        out_of_order = any(v > version for v in self.applied)
        self.applied[version] = AppliedRow(migration.name, migration.agent, migration.edited, next(self._orders))
        return out_of_order

    def free_versions(self) -> list[int]:
        return [v for v in AGENT_VERSIONS if v not in self.used_versions]

    def migrations(
        self, *, only_installed: bool, applied: bool | None = None, kinds: tuple[str, ...] = (OK,)
    ) -> list[tuple[ModelAgent, ModelMigration]]:
        """Agent migrations of ``kinds`` (of installed agents only, or of all), applied or not (``None``: either)."""
        return [
            (agent, migration)
            for agent in self.agents.values()
            if agent.installed or not only_installed
            for migration in agent.migrations.values()
            if migration.kind in kinds and (applied is None or (migration.version in self.applied) == applied)
        ]

    def good_prefix(self) -> tuple[list[int], int | None]:
        """The pending versions before the first failing or orphaning one, and a target stopping there."""
        installed = self.installed()
        pending = self.pending()
        for index, version in enumerate(pending):
            if installed[version].kind != OK:
                return pending[:index], version - 1
        return pending, None

    def connect(self) -> closing[sqlite3.Connection]:
        """A fresh connection to the database file, closed at the end of the ``with`` block."""
        return closing(sqlite3.connect(self.path))

    # -- rules -------------------------------------------------------------------------------------

    @initialize(journal_mode=st.sampled_from(["delete", "wal"]), data=st.data())
    def create_database(self, journal_mode: str, data: st.DataObject) -> None:
        """The database file in a rollback-journal or WAL mode, one or two agents installed, maybe migrated."""
        with self.connect() as connection:
            assert connection.execute(f"PRAGMA journal_mode = {journal_mode}").fetchone()[0] == journal_mode
        for _ in range(data.draw(st.integers(1, 2), label="agents")):
            self.install_agent(data)
        if data.draw(st.booleans(), label="migrated"):
            self.run_migrations(up_to=None, dry_run=False)

    @precondition(lambda self: len(self.free_versions()) >= 3)
    @rule(data=st.data())
    def install_agent(self, data: st.DataObject) -> None:
        """A new agent: a random name, one to three free versions, each with or without a rollback."""
        name = data.draw(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), label="agent")
        while name == "core" or name in self.agents:
            name += "x"
        versions = data.draw(st.lists(st.sampled_from(self.free_versions()), min_size=1, max_size=3, unique=True), label="versions")
        agent = ModelAgent(name, self.packages.create(), {})
        for version in versions:
            has_rollback = data.draw(st.sampled_from([True, True, True, False]), label=f"V{version} has rollback")
            self._add(agent, ModelMigration(version, name, rollback=has_rollback))
        self.agents[name] = agent

    @precondition(lambda self: self.free_versions() and any(a.installed for a in self.agents.values()))
    @rule(data=st.data(), kind=st.sampled_from([OK, FAILING, ORPHANING]))
    def add_migration(self, data: st.DataObject, kind: str) -> None:
        """An installed agent gains a migration: ordinary (maybe below applied versions), failing or orphaning."""
        agent = data.draw(st.sampled_from([a for a in self.agents.values() if a.installed]), label="agent")
        version = data.draw(st.sampled_from(self.free_versions()), label="version")
        self._add(agent, ModelMigration(version, agent.name, kind=kind, rollback=data.draw(st.booleans(), label="rollback")))

    def _add(self, agent: ModelAgent, migration: ModelMigration) -> None:
        self.used_versions.add(migration.version)
        agent.migrations[migration.version] = migration
        self.packages.write(agent.package, migration)

    @precondition(lambda self: self.migrations(only_installed=False, kinds=(FAILING, ORPHANING)))
    @rule(data=st.data())
    def fix_migration(self, data: st.DataObject) -> None:
        """A failing or orphaning migration (never applied) is rewritten as an ordinary one."""
        agent, migration = data.draw(st.sampled_from(self.migrations(only_installed=False, kinds=(FAILING, ORPHANING))))
        assert migration.version not in self.applied
        self.packages.remove(agent.package, migration.stem)
        migration.kind = OK
        self.packages.write(agent.package, migration)

    @precondition(lambda self: any(a.installed for a in self.agents.values()))
    @rule(data=st.data())
    def uninstall_agent(self, data: st.DataObject) -> None:
        data.draw(st.sampled_from([a for a in self.agents.values() if a.installed]), label="agent").installed = False

    @precondition(lambda self: any(not a.installed for a in self.agents.values()))
    @rule(data=st.data())
    def reinstall_agent(self, data: st.DataObject) -> None:
        data.draw(st.sampled_from([a for a in self.agents.values() if not a.installed]), label="agent").installed = True

    @precondition(lambda self: [m for _, m in self.migrations(only_installed=True, applied=True) if not m.edited])
    @rule(data=st.data())
    def edit_applied_migration(self, data: st.DataObject) -> None:
        """An applied migration's file is edited: every run must now refuse, changing nothing."""
        candidates = [(a, m) for a, m in self.migrations(only_installed=True, applied=True) if not m.edited]
        agent, migration = data.draw(st.sampled_from(candidates), label="edited")
        migration.edited = True
        self.packages.write(agent.package, migration)

    @precondition(lambda self: [m for _, m in self.migrations(only_installed=False) if m.edited])
    @rule(data=st.data())
    def restore_migration(self, data: st.DataObject) -> None:
        agent, migration = data.draw(st.sampled_from([(a, m) for a, m in self.migrations(only_installed=False) if m.edited]))
        migration.edited = False
        self.packages.write(agent.package, migration)

    @rule(
        up_to=st.none() | st.integers(0, AGENT_VERSIONS.stop),
        dry_run=st.sampled_from([False, False, True]),
    )
    def run_migrations(self, up_to: int | None, dry_run: bool) -> None:
        """A run (``target=up_to``), or a dry run: applies the pending migrations up to the first failing one."""
        target = up_to
        installed = self.installed()
        pending = self.pending(target)
        with self.connect() as connection:
            if self.divergent():
                with pytest.raises(DivergentMigrationError) as raised:
                    run_agent_migrations(connection, target=target, dry_run=dry_run, registry=self.registry())
                assert raised.value.version in self.divergent()
                event("run refused: divergent")
                return
            if dry_run:
                report = run_agent_migrations(connection, target=target, dry_run=True, registry=self.registry())
                assert report.versions == tuple(pending)
                event("dry run")
                return
            expected: list[tuple[int, bool]] = []
            failing: ModelMigration | None = None
            for version in pending:
                if installed[version].kind != OK:
                    failing = installed[version]
                    break
                expected.append((version, self.record(version)))
            if failing is None:
                report = run_agent_migrations(connection, target=target, registry=self.registry())
                assert [(step.version, step.out_of_order) for step in report.applied] == expected
                assert {row.version for row in report.not_installed} == set(self.applied) - set(installed)
                event(f"run applied {'some' if expected else 'nothing'}")
                return
            error = ForeignKeyViolationError if failing.kind == ORPHANING else MigrationFailedError
            with pytest.raises(error) as raised:
                run_agent_migrations(connection, target=target, registry=self.registry())
            assert (raised.value.version, raised.value.agent, raised.value.rolled_back) == (failing.version, failing.agent, True)
            assert f"V{failing.version}__{failing.name}" in str(raised.value)
            if failing.kind == FAILING:
                assert raised.value.statement_index == 2  # part-way: two statements had run
            event(f"run failed: {failing.kind}")

    @precondition(lambda self: self.applied)
    @rule(data=st.data())
    def roll_back(self, data: st.DataObject) -> None:
        """Roll back to a random version: all above it go, or (one has no rollback, or is not installed) none."""
        below_highest = sorted({0, *self.applied} - {max(self.applied)}, reverse=True)  # so that something is above
        to = data.draw(st.sampled_from(below_highest) | st.integers(0, AGENT_VERSIONS.stop), label="to")
        installed = self.installed()
        above = sorted((v for v in self.applied if v > to), reverse=True)
        unavailable = next((v for v in above if v not in installed or not installed[v].rollback), None)
        with self.connect() as connection:
            if self.divergent():
                with pytest.raises(DivergentMigrationError):
                    rollback_migrations(connection, to, registry=self.registry())
                event("rollback refused: divergent")
            elif unavailable is not None:
                with pytest.raises(RollbackUnavailableError) as raised:
                    rollback_migrations(connection, to, registry=self.registry())
                assert raised.value.version == unavailable
                event("rollback refused: unavailable")
            else:
                report = rollback_migrations(connection, to, registry=self.registry())
                assert [step.version for step in report.rolled_back] == above
                for version in above:
                    del self.applied[version]
                event(f"rolled back {'some' if above else 'nothing'}")

    @precondition(lambda self: not self.divergent() and any(v not in CORE for v in self.good_prefix()[0]))
    @rule(data=st.data(), point=st.sampled_from(MIGRATION_CRASH_POINTS))
    def kill_migrating_runner(self, data: st.DataObject, point: str) -> None:
        """A runner is killed (SIGKILL) while it holds the write transaction at ``point`` of a migration.

        Afterwards the database holds that migration entirely or not at all
        (as ``point`` says), and the next run completes.
        """
        prefix, target = self.good_prefix()
        victim = data.draw(st.sampled_from([v for v in prefix if v not in CORE]), label="victim")
        kill_runner_at(self.path, self.installed_packages(), victim, point, target=target)
        event(f"migrating runner killed at {point}")
        for version in prefix[: prefix.index(victim) + (1 if point == "after" else 0)]:
            self.record(version)
        self.check_database()  # exactly before or after the victim, history and table together
        expected = [(v, self.record(v)) for v in prefix if v not in self.applied]
        with self.connect() as connection:
            report = run_agent_migrations(connection, target=target, registry=self.registry())
        assert [(step.version, step.out_of_order) for step in report.applied] == expected

    def rollbacks_possible(self) -> dict[int, list[int]]:
        """Each version ``to`` a rollback can reach while rolling back an agent's migration: the versions above it."""
        if self.divergent():
            return {}
        installed = self.installed()
        possible = {}
        for to in sorted({0, *self.applied}):
            above = sorted((v for v in self.applied if v > to), reverse=True)
            if all(v in installed and installed[v].rollback for v in above) and any(v not in CORE for v in above):
                possible[to] = above
        return possible

    @precondition(lambda self: self.rollbacks_possible())
    @rule(data=st.data())
    def kill_rolling_back_runner(self, data: st.DataObject) -> None:
        """A rollback is killed (SIGKILL) while it holds the write transaction at a point of one migration.

        Afterwards that migration is entirely applied or entirely rolled back
        (as the point says), and the next rollback completes.
        """
        possible = self.rollbacks_possible()
        to = data.draw(st.sampled_from(sorted(possible)), label="to")
        above = possible[to]
        victim = data.draw(st.sampled_from([v for v in above if v not in CORE]), label="victim")
        # "after" needs a next transaction: there is none after the last migration rolled back.
        point = data.draw(st.sampled_from([p for p in ROLLBACK_CRASH_POINTS if p != "after" or victim != above[-1]]), label="point")
        kill_runner_at(self.path, self.installed_packages(), victim, point, rollback_to=to)
        event(f"rolling-back runner killed at {point}")
        for version in above[: above.index(victim) + (1 if point == "after" else 0)]:
            del self.applied[version]
        self.check_database()  # exactly before or after the victim's rollback, history and table together
        with self.connect() as connection:
            report = rollback_migrations(connection, to, registry=self.registry())
        assert [step.version for step in report.rolled_back] == [v for v in above if v in self.applied]
        for version in [v for v in above if v in self.applied]:
            del self.applied[version]

    # -- invariants --------------------------------------------------------------------------------

    @invariant()
    def database_matches_model(self) -> None:
        self.check_database()

    def check_database(self) -> None:
        with self.connect() as connection:
            self._check_history_and_tables(connection)
            assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
            self._check_status(connection)
            self._check_verify(connection)
            assert not connection.in_transaction

    def _check_history_and_tables(self, connection: sqlite3.Connection) -> None:
        tables = {
            name for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        history = (
            connection.execute(f"SELECT version, name, agent FROM {HISTORY_TABLE} ORDER BY version").fetchall()
            if HISTORY_TABLE in tables
            else []
        )
        assert history == [(v, row.name, row.agent) for v, row in sorted(self.applied.items())]
        expected_tables = {CORE[v][1] if v in CORE else f"t_{v}" for v in self.applied}
        assert tables - {HISTORY_TABLE} == expected_tables
        for version, row in self.applied.items():
            if version not in CORE:
                rows = connection.execute(f"SELECT id, note FROM t_{version}").fetchall()
                assert rows == [(1, note(version, row.edited))]

    def _check_status(self, connection: sqlite3.Connection) -> None:
        installed = self.installed()
        divergent = self.divergent()
        late = {
            v for v, row in self.applied.items()
            if any(w > v and other.order < row.order for w, other in self.applied.items())
        }
        expected = []
        for version in sorted(set(installed) | set(self.applied)):
            row = self.applied.get(version)
            if row is None:
                expected.append((version, PENDING, installed[version].agent))
            elif version not in installed:
                expected.append((version, APPLIED_NOT_INSTALLED, row.agent))
            else:
                state = DIVERGENT if version in divergent else APPLIED_OUT_OF_ORDER if version in late else APPLIED
                expected.append((version, state, installed[version].agent))
        actual = [(r.version, r.state, r.agent) for r in migration_status(connection, registry=self.registry())]
        assert actual == expected

    def _check_verify(self, connection: sqlite3.Connection) -> None:
        report = verify_database(connection, registry=self.registry())
        divergent = self.divergent()
        assert {error.version for error in report.divergent} == divergent
        assert not report.drift.has_drift, report.drift
        assert report.ok == (not divergent)
        assert report.pending == tuple(self.pending())
        assert {row.version for row in report.not_installed} == set(self.applied) - set(self.installed())


def test_runner_agrees_with_the_model() -> None:
    run_state_machine_as_test(MigrationModel, settings=SETTINGS)
