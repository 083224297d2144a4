"""Every public path of a run, exercised on one caller's connection: for tests of what the caller set on it.

:func:`exercise_every_path` runs status, a dry run, migrate, verify, repair,
rollback, adoption, baseline, ``migrate --fake`` and resolve (a journalled
failure on MySQL; on PostgreSQL, where nothing is journalled, a refusal) on
the connection it is given, checking each outcome, so a test only has to set
something on the connection first (a row factory, a cursor class, a schema
whose name needs quoting) and check that it is still set afterwards.
"""

from __future__ import annotations

from typing import Callable

import pytest
from conftest import registry_of

from nocodo_agents import MigrationFailedError, ResolveRefusedError
from nocodo_agents.lifecycle import (
    baseline,
    record_as_applied,
    repair_history,
    resolve_unfinished,
    rollback_migrations,
    verify_database,
)
from nocodo_agents.runner import run_agent_migrations
from nocodo_agents.status import migration_status

NOTES = (
    "CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(40) NOT NULL DEFAULT 'x', parent INT, "
    "CONSTRAINT notes_parent FOREIGN KEY (parent) REFERENCES notes (id));\n"
    "CREATE INDEX notes_body ON notes (body);\n"
    "CREATE VIEW notes_view AS SELECT id, body FROM notes;\n"
    "INSERT INTO notes (id, body) VALUES (1, 'first');"
)
NOTES_EDITED = NOTES.replace("VALUES (1, 'first')", "VALUES  (1, 'first')")  # whitespace: a new checksum, the same schema
NOTES_ROLLBACK = "DROP VIEW notes_view;\nDROP TABLE notes;"
HALF = "CREATE TABLE half_done (id INT);\nCREATE TABLE half_done (id INT);"


def _module(sql: str, rollback: str) -> str:
    return f"def migration(dialect):\n    return {sql!r}\n\n\ndef rollback(dialect):\n    return {rollback!r}\n"


def exercise_every_path(conn: object, raw: Callable[[str], None], agent_package: Callable[..., str], *, journalled: bool) -> None:
    """Run every path on ``conn``; ``raw`` runs (and commits) SQL of the test's own; ``journalled``: MySQL."""
    notes = registry_of(notes=agent_package({"V100__notes": _module(NOTES, NOTES_ROLLBACK)}))
    edited = registry_of(notes=agent_package({"V100__notes": _module(NOTES_EDITED, NOTES_ROLLBACK)}))
    everything = (1, 2, 3, 100)

    assert [row.state for row in migration_status(conn, registry=notes)] == ["pending"] * 4
    assert run_agent_migrations(conn, registry=notes, dry_run=True).versions == everything
    assert run_agent_migrations(conn, registry=notes).versions == everything
    assert run_agent_migrations(conn, registry=notes).applied == ()
    assert [row.state for row in migration_status(conn, registry=notes)] == ["applied"] * 4
    report = verify_database(conn, registry=notes)
    assert report.ok, report.drift

    repaired = repair_history(conn, registry=edited)  # no drift, so no refusal
    assert [row.version for row in repaired.repaired] == [100]
    assert verify_database(conn, registry=edited).ok

    assert [step.version for step in rollback_migrations(conn, 3, registry=edited, dry_run=True).rolled_back] == [100]
    assert [step.version for step in rollback_migrations(conn, 3, registry=edited).rolled_back] == [100]
    assert [row.state for row in migration_status(conn, registry=edited)] == ["applied"] * 3 + ["pending"]
    assert run_agent_migrations(conn, registry=edited).versions == (100,)

    raw("DROP TABLE refinery_schema_history")  # a database made before history existed: adopted
    adopted = run_agent_migrations(conn, registry=edited)
    assert [step.version for step in adopted.adopted] == list(everything) and adopted.applied == ()
    assert verify_database(conn, registry=edited).ok

    raw("DROP TABLE refinery_schema_history")
    assert [step.version for step in baseline(conn, 100, registry=edited).adopted] == list(everything)
    assert verify_database(conn, registry=edited).ok
    raw("DELETE FROM refinery_schema_history WHERE version = 100")
    assert [step.version for step in record_as_applied(conn, registry=edited).adopted] == [100]

    half = registry_of(notes=agent_package({"V100__notes": _module(NOTES_EDITED, NOTES_ROLLBACK), "V101__half": HALF}))
    with pytest.raises(MigrationFailedError, match="V101__half"):
        run_agent_migrations(conn, registry=half)
    if journalled:
        raw("DROP TABLE half_done")
        assert resolve_unfinished(conn, 101, applied=False, registry=half) is None
    else:
        with pytest.raises(ResolveRefusedError, match="the journal holds nothing"):
            resolve_unfinished(conn, 101, applied=False, registry=half)
    assert [row.state for row in migration_status(conn, registry=half)] == ["applied"] * 4 + ["pending"]
    assert verify_database(conn, registry=half).ok
