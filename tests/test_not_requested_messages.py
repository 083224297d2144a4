"""Messages about history rows of agents a run did not request tell "not requested" from "not installed".

Found playing an operator (tests/test_third_party_publishers.py): with
``--agent tasks``, ``migrate`` and ``verify`` noted requirements_qna's V4
"is applied but not installed" although it was installed, only not
requested; ``verify`` called the tables of an installed, unrequested agent
"not created by any migration"; and ``rollback`` over such a row advised
adding a ``rollback()`` function to a migration that has one. Through the
real console script on SQLite (the messages are made above the dialects).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import Cli, sql_module, write_agent_distribution


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    site = tmp_path / "site"
    work = tmp_path / "work"
    site.mkdir()
    work.mkdir()
    write_agent_distribution(site, "notes-dist", "notes", "notes_agent", {"V200__create_notes": sql_module("CREATE TABLE notes (id INTEGER PRIMARY KEY);", rollback="DROP TABLE notes;")})
    write_agent_distribution(site, "other-dist", "other", "other_agent", {"V100__create_other": sql_module("CREATE TABLE other (id INTEGER PRIMARY KEY);", rollback="DROP TABLE other;")})
    return Cli(work, site)


def test_a_row_of_an_installed_agent_not_requested_is_not_called_not_installed(cli: Cli) -> None:
    assert cli("migrate").code == 0
    for command in ("migrate", "verify"):
        result = cli(command, "--agent", "other")
        assert result.code == 0, result.text
        assert "is applied but not installed" not in result.text
        assert "V200__create_notes is applied by agent 'notes' (notes-dist), which is installed but was not requested" in result.text
        if command == "verify":
            assert "table notes is not created by any migration" not in result.text
            assert "table notes is not created by the requested agents' migrations (not checked)" in result.text


def test_a_row_of_an_agent_that_is_not_installed_still_says_so(cli: Cli) -> None:
    assert cli("migrate").code == 0
    (cli.site / "notes_dist-1.0.dist-info" / "entry_points.txt").unlink()  # notes uninstalled, its row stays
    result = cli("migrate", "--agent", "other")
    assert result.code == 0, result.text
    assert "V200__create_notes is applied but not installed (agent notes)" in result.text


def test_rollback_over_a_row_not_requested_asks_for_the_agent_not_for_a_rollback_function(cli: Cli) -> None:
    assert cli("migrate").code == 0
    result = cli("rollback", "--to", "0", "--agent", "other")
    assert result.code == 1, result.text
    assert "V200__create_notes of agent 'notes'" in result.err
    assert "Add a rollback() function" not in result.err, "V200 has one: its agent was not requested"
    assert "request agent 'notes'" in result.err and "or roll back to a version at or above 200" in result.err
