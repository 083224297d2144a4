"""The migrations every benchmark applies, and the hand-written floor that applies them.

Our side: core plus in-process agents of trivial migrations (one
``CREATE TABLE`` each), given to the runner as a registry. The floor (the
"hand loop"): the same SQL, per migration ``BEGIN; statements; INSERT history
row; COMMIT`` (or everything in one transaction for the grouped comparison),
with names and checksums computed before the clock starts: a floor no runner
can beat, keeping the same history a runner keeps.
"""

from __future__ import annotations

import inspect
import os
import sqlite3
import types
from dataclasses import dataclass
from typing import Any

from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.hookspecs import hookimpl
from nocodo_agents.migration import Migration

#: The first version of the trivial migrations (core holds 1-3, requirements_qna 4).
FIRST = 100
HISTORY = "refinery_schema_history"
#: refinery's history table (``INT4 PRIMARY KEY``, as ours: on SQLite a separate index, where ``INTEGER
#: PRIMARY KEY`` would be the rowid and make each history row cheaper than the runner's), with our agent column.
HISTORY_DDL = (
    f"CREATE TABLE IF NOT EXISTS {HISTORY}(version INT4 PRIMARY KEY, name VARCHAR(255), "
    "applied_on VARCHAR(255), checksum VARCHAR(255), agent VARCHAR(255))"
)
APPLIED_ON = "2026-01-01T00:00:00.000000000+00:00"


def trivial_sql(version: int) -> str:
    """The body of trivial migration ``version``."""
    return f"CREATE TABLE t_{version} (id INTEGER)"


def _plugin(name: str, migrations: list[Migration]) -> types.ModuleType:
    @hookimpl
    def nocodo_agents_migrations():  # type: ignore[no-untyped-def]
        return migrations

    plugin = types.ModuleType(f"bench_plugin_{name}")
    plugin.nocodo_agents_migrations = nocodo_agents_migrations  # type: ignore[attr-defined]
    return plugin


def bulk_registry(n: int, agents: int = 1) -> AgentRegistry:
    """Core plus ``agents`` in-process agents sharing ``n`` trivial migrations (versions from FIRST)."""
    per_agent: dict[str, list[Migration]] = {f"bulk{a}": [] for a in range(agents)}
    for i in range(n):
        version = FIRST + i
        per_agent[f"bulk{i % agents}"].append(Migration(version, f"create_t_{version}", trivial_sql(version)))
    return AgentRegistry.from_plugins({name: _plugin(name, ms) for name, ms in per_agent.items()})


@dataclass(frozen=True)
class Planned:
    """One migration as the floor applies it: precomputed statements and history row."""

    version: int
    name: str
    statements: list[str]
    checksum: str
    agent: str


def planned(registry: AgentRegistry, dialect: str = "sqlite") -> list[Planned]:
    """Every migration of ``registry``'s agents, in version order, ready for the hand loop."""
    out: list[Planned] = []
    for agent in registry.agent_names():
        for m in registry.migration_set(agent).migrations:
            statements = [s.strip() for s in m.sql(dialect).split(";") if s.strip()]
            out.append(Planned(m.version, m.name, statements, str(m.checksum(dialect)), agent))
    return sorted(out, key=lambda p: p.version)


#: The per-process memos of pure work (module, attribute), where the installed version has them.
PROCESS_MEMOS = (
    ("nocodo_agents.checksum", "_REMEMBERED"),
    ("nocodo_agents.execution", "_CHECKED"),
    ("nocodo_agents.engine.scripted", "_BODIES"),
)


def forget_process_memos() -> None:
    """Empty what a process remembers of earlier runs (checksums, checked statements, scripts): a first run, as in a new process."""
    import importlib

    for module_name, attribute in PROCESS_MEMOS:
        try:
            memo = getattr(importlib.import_module(module_name), attribute, None)
        except ImportError:
            continue
        if memo is not None:
            memo.clear()


def grouped_supported() -> bool:
    """Whether the installed runner takes ``grouped=`` (being added by another part of issue 12)."""
    from nocodo_agents.runner import run_agent_migrations

    return "grouped" in inspect.signature(run_agent_migrations).parameters


def ours_apply(path: str, registry: AgentRegistry, grouped: bool = False) -> int:
    """Our runner applying everything ``registry`` holds to the SQLite file ``path``: statements sent."""
    from nocodo_agents.runner import run_agent_migrations

    connection = sqlite3.connect(path)
    try:
        kwargs: dict[str, Any] = {"grouped": True} if grouped else {}
        report = run_agent_migrations(connection, registry=registry, **kwargs)
        return int(report.statements)
    finally:
        connection.close()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _insert(p: Planned) -> str:
    return (f"INSERT INTO {HISTORY}(version, name, applied_on, checksum, agent) VALUES "
            f"({p.version}, {_quote(p.name)}, {_quote(APPLIED_ON)}, {_quote(p.checksum)}, {_quote(p.agent)})")


def hand_loop_sqlite(path: str, migrations: list[Planned], grouped: bool = False) -> None:
    """The floor on SQLite: each migration (or all, ``grouped``) in one transaction with its history row."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute(HISTORY_DDL)
        if grouped:
            script = ";\n".join(s for p in migrations for s in p.statements + [_insert(p)])
            connection.executescript(f"BEGIN;\n{script};\nCOMMIT;")
            return
        for p in migrations:
            connection.executescript("BEGIN;\n" + ";\n".join(p.statements + [_insert(p)]) + ";\nCOMMIT;")
    finally:
        connection.close()


def fresh(path: str) -> str:
    """Remove ``path`` (and SQLite's side files) so the next run starts from nothing."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
    return path


def history_rows_sqlite(path: str, migrations: list[Planned]) -> None:
    """Write the history of ``migrations`` as applied (tables left out): a set-up for read-only benchmarks."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute(HISTORY_DDL)
        connection.execute("BEGIN")
        connection.executemany(
            f"INSERT INTO {HISTORY}(version, name, applied_on, checksum, agent) VALUES (?, ?, ?, ?, ?)",
            [(p.version, p.name, APPLIED_ON, p.checksum, p.agent) for p in migrations],
        )
        connection.execute("COMMIT")
    finally:
        connection.close()


def read_history_sqlite(connection: sqlite3.Connection) -> int | None:
    """The in-process floor: read the whole history on an open connection."""
    return len(connection.execute(f"SELECT * FROM {HISTORY}").fetchall())
