"""Migrate a SQLite file with core + requirements_qna and print what was applied.

Usage: python examples/migrate_default.py [PATH]   (default: data/agents.sqlite)
"""

import sqlite3
import sys
from pathlib import Path

from nocodo_agents import MigrationError
from nocodo_agents.database.migrations import run_agent_migrations


def main(path: str = "data/agents.sqlite") -> int:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    try:
        report = run_agent_migrations(connection, agents=["requirements_qna"])
    except MigrationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    print(f"database: {path}")
    for step in report.adopted:
        print(f"adopted  V{step.version}__{step.name} ({step.agent})")
    for step in report.applied:
        late = " (out of order)" if step.out_of_order else ""
        print(f"applied  V{step.version}__{step.name} ({step.agent}, {step.duration_ms:.1f} ms){late}")
    for row in report.not_installed:
        print(f"note     V{row.version}__{row.name} is applied but not installed (agent {row.agent})")
    if not report.applied and not report.adopted:
        print("up to date: nothing to apply")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
