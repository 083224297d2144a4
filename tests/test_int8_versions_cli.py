"""64-bit versions through the real console script: status tables and JSON in full and in numeric order, widen-history.

Run on a SQLite file and on the private PostgreSQL and MariaDB servers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Cli, sql_module, write_agent_distribution
from int8_support import REFINERY_APPLIED_ON, TIMESTAMP, Db, db_for

from nocodo_agents.checksum import checksum

LATER = 20261201120001
HUGE = 2**63 - 1


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    return db_for(request, tmp_path)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = Cli.in_work_directory(tmp_path)
    site = cli.site
    write_agent_distribution(site, "small-agent", "small", "small_agent", {"V4__create_small": sql_module("CREATE TABLE small (id INT)")})
    write_agent_distribution(
        site, "notes-agent", "notes", "notes_agent",
        {
            f"V{TIMESTAMP}__create_notes": sql_module("CREATE TABLE notes (id INT)", rollback="DROP TABLE notes"),
            f"V{LATER}__create_more_notes": sql_module("CREATE TABLE more_notes (id INT)", rollback="DROP TABLE more_notes"),
            f"V{HUGE}__last_possible": sql_module("CREATE TABLE last_possible (id INT)", rollback="DROP TABLE last_possible"),
        },
    )
    return cli


def test_status_shows_64_bit_versions_in_full_and_in_numeric_order(cli: Cli, db: Db) -> None:
    assert cli("migrate", "--db", db.url, "--agent", "small", "--agent", "notes", "--target", str(LATER)).code == 0
    assert db.is_64_bit()
    done = cli("status", "--db", db.url, "--agent", "small", "--agent", "notes")
    assert done.code == 0, done.text
    lines = done.out.splitlines()
    header, body = lines[0], lines[1:]
    assert [line.split()[0] for line in body] == ["1", "2", "3", "4", str(TIMESTAMP), str(LATER), str(HUGE)]
    # Every column starts where its header starts: the version column is as wide as the longest version.
    name_at = header.index("NAME")
    assert name_at == len(str(HUGE)) + 2
    for line in body:
        assert line[name_at - 2 : name_at] == "  " and line[name_at] != " ", line
    assert body[-1].split()[3] == "pending" and body[-2].split()[3] == "applied"
    listed = json.loads(cli("status", "--json", "--db", db.url, "--agent", "small", "--agent", "notes").out)
    assert [row["version"] for row in listed] == [1, 2, 3, 4, TIMESTAMP, LATER, HUGE]
    assert cli("migrate", "--db", db.url, "--agent", "small", "--agent", "notes").code == 0
    done = cli("rollback", "--to", str(TIMESTAMP), "--db", db.url, "--agent", "small", "--agent", "notes")
    assert done.code == 0 and f"V{HUGE}__last_possible" in done.out and f"V{LATER}__create_more_notes" in done.out, done.text
    assert db.is_64_bit(), "the history stays 64-bit after a rollback"
    dry = cli("migrate", "--dry-run", "--db", db.url, "--agent", "small", "--agent", "notes")
    assert f"VALUES ({LATER}, 'create_more_notes'" in dry.out and f"VALUES ({HUGE}, 'last_possible'" in dry.out, dry.text


def test_widen_history_command(cli: Cli, db: Db) -> None:
    assert cli("migrate", "--db", db.url, "--agent", "small").code == 0
    db.run(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES "
        f"(50, 'rust_side', '{REFINERY_APPLIED_ON}', '{checksum('rust_side', 50, 'SELECT 1')}')"
    )
    before = db.history()
    refused = cli("widen-history", "--db", db.url, "--agent", "small")
    assert refused.code == 4, refused.text
    assert "V50__rust_side (no agent: written by refinery)" in refused.err
    assert "nocodo-agents: hint:" in refused.err and "widen-history --keep-unverified" in refused.err
    assert db.history() == before and not db.is_64_bit()
    # A migration needing the 64-bit history is refused the same way, before anything runs.
    refused = cli("migrate", "--db", db.url, "--agent", "small", "--agent", "notes")
    assert refused.code == 4 and f"V{TIMESTAMP}__create_notes" in refused.err, refused.text
    assert db.history() == before and not db.is_64_bit()
    done = cli("widen-history", "--keep-unverified", "--db", db.url, "--agent", "small")
    assert done.code == 0, done.text
    assert "kept V50__rust_side (no agent)" in done.out
    assert "done: history widened to 64-bit versions, 4 checksum(s) re-recorded" in done.out
    assert db.is_64_bit()
    assert cli("migrate", "--db", db.url, "--agent", "small", "--agent", "notes").code == 0
    status = json.loads(cli("status", "--json", "--db", db.url, "--agent", "small", "--agent", "notes").out)
    assert [row["version"] for row in status] == [1, 2, 3, 4, 50, TIMESTAMP, LATER, HUGE]
    states = {row["version"]: row["state"] for row in status}
    # V1-V4 were applied after refinery's V50 (dated earlier): out of order, but verified, not divergent.
    assert [states[v] for v in (1, 2, 3, 4)] == ["applied-out-of-order"] * 4
    assert [states[v] for v in (50, TIMESTAMP, LATER, HUGE)] == ["applied-not-installed", "applied", "applied", "applied"]
    again = cli("widen-history", "--db", db.url, "--agent", "small", "--agent", "notes", "--keep-unverified")
    assert again.code == 0 and "already 64-bit, 0 checksum(s) re-recorded" in again.out, again.text


def test_version_options_say_the_64_bit_range(cli: Cli, db: Db) -> None:
    done = cli("migrate", "--db", db.url, "--target", str(2**63))
    assert done.code == 2 and "outside 0..9223372036854775807" in done.err, done.text
    done = cli("baseline", "--db", db.url, "--version", str(2**63))
    assert done.code == 2 and "outside 0..9223372036854775807" in done.err, done.text
