"""(2) In-process no-op on an open connection (core + requirements_qna) vs reading the history on it.

Peers run their own no-op on their own open connection (yoyo: a backend kept
open, taking its lock; sqlite-utils: a ``Database`` kept open; alembic: a
SQLAlchemy connection kept open).
"""

from __future__ import annotations

import sqlite3
from typing import Callable

from nocodo_agents.discovery import AgentRegistry

from . import peer_alembic, peer_sqlite_utils, peer_yoyo
from .context import DISK, Context, triples
from .timing import Subject, interleave, stopwatch
from .workload import planned, read_history_sqlite

NAME = "inprocess-noop"
BENCH = "in-process no-op (open connection)"


def _agents() -> list[str] | None:
    """``["requirements_qna"]`` when that agent is installed, else every installed agent."""
    return ["requirements_qna"] if "requirements_qna" in AgentRegistry.installed().agent_names() else None


def run(ctx: Context) -> None:
    """Interleave the history read, our no-op run and each peer's no-op, each on its open connection."""
    from nocodo_agents.runner import run_agent_migrations

    directory = ctx.directory(DISK, NAME)
    agents = _agents()
    connection = sqlite3.connect(str(directory / "ours.sqlite"))
    run_agent_migrations(connection, agents=agents)
    thunks: dict[str, Callable[[], object]] = {
        "floor (read history)": lambda: read_history_sqlite(connection),
        f"nocodo-agents run_agent_migrations (agents={agents})": lambda: run_agent_migrations(connection, agents=agents),
    }
    migrations = triples(planned(AgentRegistry.installed()))
    if "yoyo" in ctx.peers(BENCH, ["yoyo"]):
        project = peer_yoyo.write(directory / "yoyo", migrations)
        peer_yoyo.apply(project, str(directory / "yoyo.sqlite"))
        thunks["yoyo (read files, lock, to_apply)"] = peer_yoyo.noop_on_open(project, str(directory / "yoyo.sqlite"))
    if "sqlite-utils" in ctx.peers(BENCH, ["sqlite-utils"]):
        loaded = peer_sqlite_utils.load(peer_sqlite_utils.write(directory / "sqlite-utils", migrations))
        peer_sqlite_utils.apply(loaded, str(directory / "su.sqlite"))
        thunks["sqlite-utils (Migrations.apply)"] = peer_sqlite_utils.noop_on_open(loaded, str(directory / "su.sqlite"))
    if "alembic" in ctx.peers(BENCH, ["alembic"]):
        project = peer_alembic.write(directory / "alembic", migrations)
        peer_alembic.apply(project, str(directory / "alembic.sqlite"))
        thunks["alembic (upgrade head)"] = peer_alembic.noop_on_open(project, str(directory / "alembic.sqlite"))
    subjects: dict[str, Subject] = {name: (lambda t=thunk: stopwatch(t)) for name, thunk in thunks.items()}
    outcomes = interleave(subjects, ctx.rounds(200), reference="floor (read history)")
    ctx.results.add_outcomes(BENCH, outcomes)
    connection.close()
