"""(1) CLI no-op: ``nocodo-agents migrate`` on an up-to-date SQLite file, as a whole command, with peak RSS.

The floor is a Python script that opens the file and reads the history
table; each peer runs its own command on its own up-to-date database holding
the same migrations (the SQL of every installed agent: core + requirements_qna).
Ours runs twice: as a user runs it, its no-op answer remembered (in a cache
directory of the benchmark's own: ``nocodo_agents.cli.noop_answer``), and
with ``NOCODO_AGENTS_NO_CACHE=1``, the full path every time.
"""

from __future__ import annotations

import os
import sys

from nocodo_agents.discovery import AgentRegistry

from . import peer_alembic, peer_sqlite_utils, peer_yoyo
from .context import DISK, Context, triples
from .timing import Subject, interleave, run_command
from .workload import HISTORY, planned

NAME = "cli-noop"
BENCH = "CLI no-op (whole command, up-to-date SQLite file)"
FLOOR_SCRIPT = f"import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT * FROM {HISTORY}').fetchall(); c.close()"


def _environment(cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOCODO_AGENTS_")}
    env["NOCODO_AGENTS_CACHE_DIR"] = cache
    return env


def run(ctx: Context) -> None:
    """Interleave the floor script, our command and each peer's command."""
    directory = ctx.directory(DISK, NAME)
    env = _environment(str(directory / "cache"))
    uncached = {**env, "NOCODO_AGENTS_NO_CACHE": "1"}
    ours_db = str(directory / "ours.sqlite")
    ours = [str(ctx.bin_dir / "nocodo-agents"), "migrate", "--db", f"sqlite:///{ours_db}", "-q"]
    run_command(ours, env)  # applies; every later run is a no-op
    commands: dict[str, list] = {"floor (python reads history)": [sys.executable, "-c", FLOOR_SCRIPT, ours_db], "nocodo-agents migrate": ours}
    environments = {"nocodo-agents migrate (NOCODO_AGENTS_NO_CACHE=1)": uncached}
    commands["nocodo-agents migrate (NOCODO_AGENTS_NO_CACHE=1)"] = ours
    migrations = triples(planned(AgentRegistry.installed()))
    writers = {"yoyo": peer_yoyo, "sqlite-utils": peer_sqlite_utils, "alembic": peer_alembic}
    for peer in ctx.peers(BENCH, list(writers)):
        module = writers[peer]
        project = module.write(directory / peer, migrations)  # type: ignore[attr-defined]
        argv = module.command(ctx.bin_dir, project, str(directory / f"{peer}.sqlite"))  # type: ignore[attr-defined]
        run_command(argv, env, cwd=str(directory))
        commands[f"{peer} {' '.join(a for a in argv[1:] if a in ('apply', 'migrate', 'upgrade', 'head'))}"] = argv
    subjects: dict[str, Subject] = {
        name: (lambda argv=argv, env=environments.get(name, env): run_command(argv, env, cwd=str(directory)))  # noqa: B008
        for name, argv in commands.items()
    }
    outcomes = interleave(subjects, ctx.rounds(20), reference="floor (python reads history)")
    floor_rss = outcomes["floor (python reads history)"].count("peak_rss_kib")
    notes = {}
    for name, outcome in outcomes.items():
        rss = outcome.count("peak_rss_kib")
        if rss is not None and floor_rss:
            notes[name] = f"peak RSS {rss / 1024:.1f} MiB ({rss / floor_rss:.2f}x floor)"
    ctx.results.add_outcomes(BENCH, outcomes, notes)
