"""A lock timeout after a run already changed something says what it changed, never "nothing was changed".

Each migration (and each rollback) takes the lock in its own transaction on
SQLite and PostgreSQL, so a run can apply V1 and then time out waiting for
the lock before V2: V1 stays applied and recorded, and the error says so.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import registry_of

from nocodo_agents import LockTimeoutError
from nocodo_agents.lifecycle import rollback_migrations
from nocodo_agents.runner import run_agent_migrations


def test_sqlite_timeout_after_applying_names_what_was_applied(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    conn = sqlite3.connect(path)
    holders: list[sqlite3.Connection] = []

    def hold_after_first(step: Any) -> None:
        if not holders:
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            holders.append(holder)

    try:
        with pytest.raises(LockTimeoutError) as caught:
            run_agent_migrations(conn, registry=registry_of(), lock_timeout=0.2, progress=hold_after_first)
        assert caught.value.done_before == ("V1__create_agent_sessions (applied)",)
        assert "Nothing was changed" not in str(caught.value)
        assert "already done V1__create_agent_sessions (applied)" in str(caught.value)
    finally:
        for holder in holders:
            holder.rollback()
            holder.close()
    assert [row[0] for row in conn.execute("SELECT version FROM refinery_schema_history")] == [1]
    conn.close()


def test_sqlite_timeout_before_anything_still_says_nothing_changed(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(LockTimeoutError, match="Nothing was changed by the waiting runner") as caught:
            run_agent_migrations(conn, registry=registry_of(), lock_timeout=0.2)
        assert caught.value.done_before == ()
    finally:
        holder.rollback()
        holder.close()
        conn.close()


def test_sqlite_rollback_timeout_names_what_was_rolled_back(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    conn = sqlite3.connect(path)
    run_agent_migrations(conn, registry=registry_of())
    holders: list[sqlite3.Connection] = []

    def hold_after_first(step: Any) -> None:
        if not holders:
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            holders.append(holder)

    try:
        with pytest.raises(LockTimeoutError) as caught:
            rollback_migrations(conn, 0, registry=registry_of(), lock_timeout=0.2, progress=hold_after_first)
        assert caught.value.done_before == ("V3__create_agent_tool_calls (rolled back)",)
        assert "Nothing was changed" not in str(caught.value)
    finally:
        for holder in holders:
            holder.rollback()
            holder.close()
    assert sorted(row[0] for row in conn.execute("SELECT version FROM refinery_schema_history")) == [1, 2]
    conn.close()


def test_postgresql_timeout_after_applying_names_what_was_applied(postgres_server: Any) -> None:
    name = "lock_honesty"
    postgres_server.create_database(name)
    conn = psycopg.connect(postgres_server.dsn(name))
    holder = psycopg.connect(postgres_server.dsn(name), autocommit=True)

    def hold_after_first(step: Any) -> None:
        if step.version == 1:
            holder.execute("SELECT pg_advisory_lock(hashtext('nocodo_agents.migrations'))")

    try:
        with pytest.raises(LockTimeoutError) as caught:
            run_agent_migrations(conn, registry=registry_of(), lock_timeout=0.3, progress=hold_after_first)
        assert caught.value.done_before == ("V1__create_agent_sessions (applied)",)
        assert "Nothing was changed" not in str(caught.value)
    finally:
        holder.close()
    with psycopg.Cursor(conn) as cursor:
        assert [row[0] for row in cursor.execute("SELECT version FROM refinery_schema_history")] == [1]
    conn.close()
