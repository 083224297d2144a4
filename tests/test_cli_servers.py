"""The console script against private PostgreSQL and MariaDB servers, by URL."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from cli_support import Cli
from fresh_database import fresh_database_url
from servers import free_port

_names = itertools.count()


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.with_empty_site(tmp_path)


@pytest.fixture(params=["postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database_url(request, tmp_path, "cli")


def test_migrate_status_verify_rollback_by_url(cli: Cli, url: str) -> None:
    migrated = cli("migrate", "--db", url)
    assert migrated.code == 0, migrated.text
    assert "[4/4] applied V4__create_project_requirements_qna (requirements_qna)" in migrated.out
    states = [row["state"] for row in json.loads(cli("status", "--json", "--db", url).out)]
    assert states == ["applied"] * 4
    assert cli("status", "--check", "--db", url).code == 0
    verified = cli("verify", "--db", url)
    assert verified.code == 0, verified.text
    assert "schema: no drift" in verified.out
    assert cli("rollback", "--to", "3", "--db", url).code == 0
    assert cli("status", "--check", "--db", url).code == 3
    dry = cli("migrate", "--dry-run", "--db", url)
    assert "CREATE TABLE project_requirements_qna" in dry.out and "VALUES (4, 'create_project_requirements_qna'" in dry.out


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_unreachable_server_exits_6_without_the_password(cli: Cli, scheme: str) -> None:
    result = cli("status", "--db", f"{scheme}://admin:s3cr3t-pw@127.0.0.1:{free_port()}/agents")
    assert result.code == 6, result.text
    assert "cannot connect" in result.err and "s3cr3t-pw" not in result.text and "admin:***@" in result.err


def test_resolve_after_a_half_applied_mysql_migration(cli: Cli, mariadb_server) -> None:
    from cli_support import sql_module, write_agent_distribution

    name = f"cli_{next(_names)}"
    mariadb_server.create_database(name)
    url = mariadb_server.url(name)
    half = "CREATE TABLE half_a (id INT);\nCREATE TABLE half_b (id INT, FOREIGN KEY (id) REFERENCES missing_table (id));\n"
    write_agent_distribution(cli.site, "half-agent", "half", "half_agent", {"V300__half": sql_module(half)})
    failed = cli("migrate", "--agent", "half", "--db", url)
    assert failed.code == 5, failed.text
    assert "statement 2" in failed.err and "stay applied" in failed.err and "nocodo-agents resolve 300" in failed.err
    refused = cli("migrate", "--agent", "half", "--db", url)
    assert refused.code == 5 and "stopped part-way on an earlier run" in refused.err
    operator = mariadb_server.connect(name)  # the operator finishes the migration by hand...
    with operator.cursor() as cursor:
        cursor.execute("CREATE TABLE half_b (id INT)")
    operator.close()
    resolved = cli("resolve", "300", "--applied", "--db", url, "--agent", "half")  # ...and says so
    assert resolved.code == 0 and "recorded V300__half (half) as applied" in resolved.out
    assert cli("status", "--check", "--agent", "half", "--db", url).code == 0
    assert cli("resolve", "300", "--absent", "--db", url).code == 2, "nothing left to resolve"


def test_fake_baseline_and_repair_by_url(cli: Cli, url: str) -> None:
    faked = cli("migrate", "--fake", "--target", "2", "--db", url)
    assert faked.code == 0 and "recorded V2__create_agent_messages (core) as applied without running it" in faked.out
    assert [row["state"] for row in json.loads(cli("status", "--json", "--db", url).out)][:3] == ["applied", "applied", "pending"]
    refused = cli("baseline", "--version", "3", "--db", url)
    assert refused.code == 1 and "already has migration history" in refused.err
    assert cli("repair", "--db", url).out.strip().startswith("nothing to repair")
    drifted = cli("verify", "--db", url)
    assert drifted.code == 4 and "missing   table agent_sessions" in drifted.out, "V1-V2 were faked: their tables are missing"
    repair = cli("repair", "--db", url)
    assert repair.code == 0, "nothing diverges, so there is nothing to repair even with drift"


def test_baseline_adopts_a_server_database_without_history(cli: Cli, url: str) -> None:
    from nocodo_agents.urls import parse_database_url

    assert cli("migrate", "--agent", "core", "--db", url).code == 0
    connection = parse_database_url(url).connect(create=False)
    try:
        cursor = connection.cursor()
        cursor.execute("DROP TABLE refinery_schema_history")
        connection.commit()
    finally:
        connection.close()
    adopted = cli("baseline", "--version", "3", "--db", url)
    assert adopted.code == 0, adopted.text
    assert "done: baseline at version 3, 3 recorded" in adopted.out
    assert cli("verify", "--agent", "core", "--db", url).code == 0
    applied = cli("migrate", "--db", url)
    assert "[1/1] applied V4__create_project_requirements_qna" in applied.out
