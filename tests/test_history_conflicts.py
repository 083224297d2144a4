"""One agent cannot touch another's history: a version agent A applied, claimed by a newly installed agent B.

On SQLite, PostgreSQL and MariaDB, through the API and through the console
script: every operation refuses it as a :class:`MigrationConflictError`
naming both agents (exit 8), before anything runs, and the history stays
byte for byte as it was; ``status`` and ``verify`` show it as a conflict,
never as divergent, and never advise ``repair``. A history row without
attribution (written by refinery) keeps its old treatment: a differing
checksum there is divergence, repairable.
"""

from __future__ import annotations

import itertools
import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from conftest import registry_of

from nocodo_agents import DivergentMigrationError, HistoryAttributionError, MigrationConflictError
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.engine.run import open_run
from nocodo_agents.history import HistoryRow
from nocodo_agents.lifecycle import (
    baseline,
    record_as_applied,
    repair_history,
    resolve_unfinished,
    rollback_migrations,
    verify_database,
)
from nocodo_agents.status import APPLIED, CONFLICT, DIVERGENT, migration_status

_names = itertools.count()

ALPHA_SQL = "CREATE TABLE alpha_notes (id INT PRIMARY KEY);"
BETA_SQL = "CREATE TABLE beta_notes (id INT PRIMARY KEY);"
HISTORY = "SELECT version, name, applied_on, checksum, agent FROM refinery_schema_history ORDER BY version"


@dataclass
class Target:
    """A database of one dialect: how to connect to it, and its URL for the console script."""

    dialect: str
    url: str
    connect: Callable[[], Any]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            rows = [tuple(row) for row in cursor.fetchall()]
            cursor.close()
            return rows
        finally:
            connection.close()

    def history(self) -> list[tuple[Any, ...]]:
        return self.query(HISTORY)

    def execute(self, sql: str) -> None:
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            cursor.close()
            connection.commit()
        finally:
            connection.close()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "sqlite":
        path = tmp_path / "agents.sqlite"
        yield Target("sqlite", str(path), lambda: sqlite3.connect(path))
        return
    if request.param == "postgresql":
        import psycopg

        server = request.getfixturevalue("postgres_server")
        name = f"conflict_{next(_names)}"
        server.create_database(name)
        yield Target("postgresql", server.url(name), lambda: psycopg.connect(server.dsn(name)))
        return
    server = request.getfixturevalue("mariadb_server")
    name = request.getfixturevalue("mariadb_database")
    yield Target("mysql", server.url(name), lambda: server.connect(name))


def _api(target: Target, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    connection = target.connect()
    try:
        return operation(connection, *args, **kwargs)
    finally:
        connection.close()


# -- the API --------------------------------------------------------------------------------------


@pytest.mark.parametrize("identical", [False, True], ids=["differing-sql", "identical-sql"])
@pytest.mark.parametrize("alpha_installed", [True, False], ids=["alpha-installed", "alpha-uninstalled"])
def test_every_operation_refuses_a_version_another_agent_applied(
    target: Target, agent_package: Callable[..., str], identical: bool, alpha_installed: bool
) -> None:
    alpha = agent_package({"V100__create_alpha_notes": ALPHA_SQL})
    beta_modules = {"V100__create_alpha_notes": ALPHA_SQL} if identical else {"V100__create_beta_notes": BETA_SQL}
    beta = agent_package(beta_modules)
    applied = _api(target, run_agent_migrations, agents=["alpha"], registry=registry_of(alpha=alpha))
    assert applied.versions == (1, 2, 3, 100)
    before = target.history()
    assert before[-1][0] == 100 and before[-1][4] == "alpha"
    registry = registry_of(alpha=alpha, beta=beta) if alpha_installed else registry_of(beta=beta)

    def refused(operation: Callable[..., Any], *args: Any, **kwargs: Any) -> MigrationConflictError:
        with pytest.raises(MigrationConflictError) as raised:
            _api(target, operation, *args, registry=registry, **kwargs)
        assert target.history() == before, f"{operation.__name__} changed the history"
        return raised.value

    error = refused(run_agent_migrations, agents=["beta"])
    assert (error.version, error.recorded_agent, error.agent) == (100, "alpha", "beta")
    assert error.distribution == "(registered in-process)" and "V100__create_" in str(error.source)
    assert error.in_history and error.first is None and error.applied_name == "create_alpha_notes"
    message = str(error)
    assert "'alpha'" in message and "'beta'" in message and str(error.source) in message and "(registered in-process)" in message
    assert "renumber" in message.lower() and "repair" not in message.lower()
    for operation, args, kwargs in [
        (run_agent_migrations, (), {"agents": ["beta"], "dry_run": True}),
        (repair_history, (["beta"],), {}),
        (record_as_applied, (["beta"],), {}),
        (baseline, (100, ["beta"]), {}),
        (resolve_unfinished, (100, True, ["beta"]), {}),
        (resolve_unfinished, (100, False, ["beta"]), {}),
        (rollback_migrations, (0, ["beta"]), {}),
    ]:
        again = refused(operation, *args, **kwargs)
        assert (again.version, again.recorded_agent, again.agent) == (100, "alpha", "beta"), operation.__name__

    rows = {row.version: row for row in _api(target, migration_status, ["beta"], registry=registry)}
    assert rows[100].state == CONFLICT and rows[100].agent == "alpha"
    assert "'beta'" in str(rows[100].detail) and "repair" not in str(rows[100].detail).lower()
    assert [rows[v].state for v in (1, 2, 3)] == [APPLIED] * 3
    report = _api(target, verify_database, ["beta"], registry=registry)
    assert not report.ok and report.divergent == ()
    assert [(c.version, c.recorded_agent, c.agent) for c in report.conflicts] == [(100, "alpha", "beta")]
    assert not report.drift.has_drift or all("beta_notes" not in str(d) for d in report.drift.differences)
    assert target.history() == before
    # requesting the agent that applied it is as before
    if alpha_installed:
        assert _api(target, run_agent_migrations, agents=["alpha"], registry=registry).versions == ()
        assert _api(target, verify_database, ["alpha"], registry=registry).ok


def test_an_unattributed_row_keeps_todays_treatment(target: Target, agent_package: Callable[..., str]) -> None:
    """refinery's rows (agent NULL): a differing checksum is divergence, and repair re-records it."""
    alpha = agent_package({"V100__create_alpha_notes": ALPHA_SQL})
    _api(target, run_agent_migrations, agents=["alpha"], registry=registry_of(alpha=alpha))
    target.execute("UPDATE refinery_schema_history SET agent = NULL WHERE version = 100")
    unattributed = target.history()
    differing = agent_package({"V100__create_beta_notes": BETA_SQL})
    registry = registry_of(beta=differing)
    with pytest.raises(DivergentMigrationError) as raised:
        _api(target, run_agent_migrations, agents=["beta"], registry=registry)
    assert raised.value.recorded_agent is None and raised.value.agent == "beta"
    assert {r.version: r.state for r in _api(target, migration_status, ["beta"], registry=registry)}[100] == DIVERGENT
    assert target.history() == unattributed
    # the same table, written differently (as the Rust crate's SQL differs): divergent, and repaired for beta
    same_schema = agent_package({"V100__create_alpha_notes": ALPHA_SQL.replace(" (", "  (")})
    repaired = _api(target, repair_history, ["beta"], registry=registry_of(beta=same_schema))
    assert [(row.version, row.agent) for row in repaired.repaired] == [(100, "beta")]
    assert target.history()[-1][4] == "beta"


def test_the_history_table_never_rewrites_another_agents_row(target: Target, agent_package: Callable[..., str]) -> None:
    """The defensive half: an update of a version attributed to another agent matches nothing, and says so."""
    alpha = agent_package({"V100__create_alpha_notes": ALPHA_SQL})
    registry = registry_of(alpha=alpha)
    _api(target, run_agent_migrations, agents=["alpha"], registry=registry)
    before = target.history()
    connection = target.connect()
    try:
        with open_run(connection, ["alpha"], registry) as run:
            with pytest.raises(HistoryAttributionError) as raised:
                with run.dialect.write_transaction():
                    run.dialect.update_history(HistoryRow(100, "create_beta_notes", "", "12345", "beta"))
            with pytest.raises(HistoryAttributionError) as gone:
                with run.dialect.write_transaction():
                    run.dialect.update_history(HistoryRow(555, "create_beta_notes", "", "12345", "beta"))
            with run.dialect.write_transaction():  # its own agent's row, and a row without agent, are written
                run.dialect.update_history(HistoryRow(100, "create_alpha_notes", before[-1][2], "777", "alpha"))
    finally:
        connection.close()
    error = raised.value
    assert isinstance(error, MigrationConflictError)
    assert (error.version, error.agent, error.recorded_agent) == (100, "beta", "alpha")
    assert "'alpha'" in str(error) and "'beta'" in str(error) and "Nothing was changed" in str(error)
    assert gone.value.recorded_agent is None and "matched no row" in str(gone.value)
    assert target.history()[:-1] == before[:-1] and target.history()[-1][3] == "777"


# -- the console script ---------------------------------------------------------------------------


def _cli_history(target: Target) -> list[tuple[Any, ...]]:
    return target.history()


@pytest.mark.parametrize("identical", [False, True], ids=["differing-sql", "identical-sql"])
def test_the_command_line_shows_and_refuses_the_conflict(target: Target, tmp_path: Path, identical: bool) -> None:
    site = tmp_path / "site"
    work = tmp_path / "work"
    site.mkdir()
    work.mkdir()
    cli = Cli(work, site)
    write_agent_distribution(site, "alpha-agent", "alpha", "alpha_agent", {"V100__create_alpha_notes": sql_module(ALPHA_SQL, rollback="DROP TABLE alpha_notes;")})
    migrated = cli("migrate", "--agent", "alpha", "--db", target.url)
    assert migrated.code == 0, migrated.text
    # beta is installed later, and alpha uninstalled: it does not matter
    beta = {"V100__create_alpha_notes": ALPHA_SQL} if identical else {"V100__create_beta_notes": BETA_SQL}
    write_agent_distribution(site, "beta-agent", "beta", "beta_agent", {k: sql_module(v, rollback="SELECT 1;") for k, v in beta.items()})
    shutil.rmtree(site / "alpha_agent-1.0.dist-info")
    before = target.history()
    for command in (
        ["migrate"], ["migrate", "--dry-run"], ["migrate", "--fake"], ["repair"], ["baseline", "--version", "100"],
        ["resolve", "100", "--applied"], ["resolve", "100", "--absent"], ["rollback", "--to", "0"],
    ):
        result = cli(*command, "--agent", "beta", "--db", target.url)
        assert result.code == 8, (command, result.text)
        assert "version 100 is recorded in the history" in result.err and "'alpha'" in result.err, command
        assert "beta-agent" in result.err and "V100__create_" in result.err, command
        assert "repair" not in result.err.lower() and "renumber" in result.err, command
        assert target.history() == before, command
    status = cli("status", "--json", "--agent", "beta", "--db", target.url)
    assert status.code == 0, status.text
    row = {r["version"]: r for r in json.loads(status.out)}[100]
    assert row["state"] == "conflict" and row["agent"] == "alpha" and "'beta'" in row["detail"]
    assert "repair" not in row["hint"] and "renumber" in row["hint"]
    table = cli("status", "--agent", "beta", "--db", target.url)
    assert "conflict" in table.out and "repair" not in table.out.lower()
    assert cli("status", "--check", "--agent", "beta", "--db", target.url).code == 8
    verified = cli("verify", "--agent", "beta", "--db", target.url)
    assert verified.code == 8, verified.text
    assert "conflict: V100" in verified.out and "repair" not in verified.out.lower()
    checked = json.loads(cli("verify", "--json", "--agent", "beta", "--db", target.url).out)
    assert checked["ok"] is False and checked["divergent"] == []
    assert [(c["version"], c["recorded_agent"], c["agent"], c["distribution"]) for c in checked["conflicts"]] == [
        (100, "alpha", "beta", "beta-agent")
    ]
    assert "repair" not in checked["conflicts"][0]["hint"]
    assert target.history() == before
