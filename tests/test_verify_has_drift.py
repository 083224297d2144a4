"""``VerifyReport.has_drift`` and a ``DriftReport`` that is falsy without drift (``not report.drift`` used to be always False)."""

from __future__ import annotations

import sqlite3

from nocodo_agents import AgentRegistry, run_agent_migrations
from nocodo_agents.lifecycle import verify_database


def test_no_drift_reads_as_no_drift(conn: sqlite3.Connection) -> None:
    registry = AgentRegistry([])
    run_agent_migrations(conn, [], registry=registry)
    report = verify_database(conn, [], registry=registry)
    assert report.ok and report.has_drift is False and not report.drift


def test_drift_reads_as_drift(conn: sqlite3.Connection) -> None:
    registry = AgentRegistry([])
    run_agent_migrations(conn, [], registry=registry)
    conn.execute("CREATE INDEX by_hand ON agent_sessions (model)")
    report = verify_database(conn, [], registry=registry)
    assert report.has_drift is True and report.drift and not report.ok
    assert "by_hand" in str(report.drift)
