"""A journal row seen without the migration lock while another runner holds it is that runner's work, not a stop.

MySQL journals each statement of a migration as it goes and commits the row
at once, so a runner that reads the journal without the lock (the no-op path,
``status``, ``verify``, dry runs) can see the row of a migration another
runner is applying right now. It must not call that "stopped part-way": the
no-op path waits for the lock and looks again under it, and ``status`` shows
the version pending. A row left by a runner that died is still refused, by
whoever takes the lock next.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from conftest import migration_module, registry_of
from servers import MariaDBServer
from test_mysql import history, journal, query

from nocodo_agents import IncompleteMigrationError
from nocodo_agents.lifecycle import verify_database
from nocodo_agents.runner import run_agent_migrations
from nocodo_agents.status import migration_status

SLOW = migration_module("CREATE TABLE slow_a (id INT);\nSELECT SLEEP(4);\nCREATE TABLE slow_b (id INT);")


@pytest.fixture
def database(mariadb_database: str) -> str:
    return mariadb_database


def _sleeping(mariadb_server: MariaDBServer) -> bool:
    admin = mariadb_server.connect()
    try:
        return bool(query(admin, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(4)%%'")[0][0])
    finally:
        admin.close()


def test_a_migration_another_runner_is_applying_is_waited_for_not_called_unfinished(
    mariadb_server: MariaDBServer, database: str, agent_package
) -> None:
    registry = registry_of(slow=agent_package({"V100__slow": SLOW}))
    first = mariadb_server.connect(database)
    outcome: dict[str, Any] = {}

    def apply() -> None:
        try:
            outcome["report"] = run_agent_migrations(first, registry=registry)
        except BaseException as error:  # reported below
            outcome["error"] = error

    runner = threading.Thread(target=apply)
    runner.start()
    try:
        for _ in range(400):
            if _sleeping(mariadb_server):
                break
            time.sleep(0.02)
        else:
            pytest.fail("the first runner never reached its slow statement")
        second = mariadb_server.connect(database)
        try:
            assert [row[0] for row in journal(second)] == [100]  # the first runner's row, committed as it goes
            states = {row.version: row.state for row in migration_status(second, registry=registry)}
            assert states[100] == "pending"  # not "unfinished": its runner is at work
            assert verify_database(second, registry=registry).unfinished is None
            waited = run_agent_migrations(second, registry=registry, lock_timeout=30)
            assert waited.versions == ()  # waited for the lock, then found it applied
            assert [row[0] for row in history(second)] == [1, 2, 3, 100]
            assert journal(second) == []
        finally:
            second.close()
    finally:
        runner.join()
        first.close()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["report"].versions == (1, 2, 3, 100)


def test_a_row_left_by_a_runner_that_died_is_still_refused(mariadb_server: MariaDBServer, database: str, agent_package) -> None:
    registry = registry_of(slow=agent_package({"V100__slow": SLOW}))
    first = mariadb_server.connect(database)
    victim = first.thread_id()
    outcome: list[BaseException] = []

    def apply() -> None:
        try:
            run_agent_migrations(first, registry=registry)
        except BaseException as error:
            outcome.append(error)

    runner = threading.Thread(target=apply)
    runner.start()
    try:
        for _ in range(400):
            if _sleeping(mariadb_server):
                break
            time.sleep(0.02)
        admin = mariadb_server.connect()
        try:
            query(admin, f"KILL CONNECTION {int(victim)}")
        finally:
            admin.close()
    finally:
        runner.join()
    assert outcome, "the first runner was not stopped"
    second = mariadb_server.connect(database)
    try:
        with pytest.raises(IncompleteMigrationError, match="V100__slow"):
            run_agent_migrations(second, registry=registry, lock_timeout=30)
        states = {row.version: row.state for row in migration_status(second, registry=registry)}
        assert states[100] == "unfinished"
    finally:
        second.close()
