"""Hostile review of the side-by-side checksums and the SQLite script stretch: what they must not change.

Real SQLite files and real migration modules on disk (imported by the
loader as a user's agent package would be). Each test names the guarantee
it holds the changes to.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pytest
from conftest import history, plugin_returning

from nocodo_agents import InvalidMigrationError, MigrationError, run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.loading import load_migrations


def _agent_package(root: Path, package: str, versions: tuple[int, ...], log: Path) -> Path:
    """``package.migrations`` under ``root``: one module per version, each logging its import to ``log``."""
    migrations = root / package / "migrations"
    migrations.mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    (migrations / "__init__.py").write_text("")
    for version in versions:
        (migrations / f"V{version}__t{version}.py").write_text(
            f"open({str(log)!r}, 'a').write('V{version}\\n')\n"
            f"def migration():\n    return 'CREATE TABLE t{version} (id INTEGER)'\n"
        )
    return migrations


def _registry(package: str) -> AgentRegistry:
    return AgentRegistry.from_plugins({"mods": plugin_returning(load_migrations(f"{package}.migrations"))})


def test_an_applied_module_that_no_longer_imports_is_imported_once_and_nothing_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verifying the history imports an applied migration's module to hash it: a module whose import fails runs once.

    ``prime_checksums`` (called by ``divergences``) tried every applied
    migration's SQL and swallowed the failure, so the checksum call that
    follows imported the broken module again: its top-level code ran twice
    (and every later module was imported before the error was raised,
    which the run never needed).
    """
    package = "review4_reimport"
    log = tmp_path / "imports.log"
    migrations = _agent_package(tmp_path, package, (100, 101, 102), log)
    monkeypatch.syspath_prepend(str(tmp_path))
    conn = sqlite3.connect(tmp_path / "x.sqlite")
    try:
        assert run_agent_migrations(conn, registry=_registry(package)).versions == (1, 2, 3, 100, 101, 102)
        broken = migrations / "V101__t101.py"
        broken.write_text(f"open({str(log)!r}, 'a').write('V101 broken\\n')\nraise RuntimeError('broken at import')\n")
        stat = broken.stat()
        os.utime(broken, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # a stamp that surely differs
        log.write_text("")
        with pytest.raises(InvalidMigrationError) as caught:
            run_agent_migrations(conn, registry=_registry(package))
        assert "V101__t101" in str(caught.value) and "broken at import" in str(caught.value)
        imported = log.read_text().splitlines()
        assert imported.count("V101 broken") == 1, f"the broken module's code ran once, not {imported}"
        assert "V102" not in imported, f"no module after the failing one was imported: {imported}"
        assert [row[0] for row in history(conn)] == [1, 2, 3, 100, 101, 102]
    finally:
        conn.close()
        for name in [name for name in sys.modules if name.startswith(package)]:
            del sys.modules[name]


def test_a_progress_callback_rebuilding_the_history_by_ddl_is_seen_by_the_next_guard(tmp_path: Path) -> None:
    """The callback empties the history with DDL only (no row written): the next guard must read the history again.

    What the run then does is the same as when another runner emptied it: it
    plans again from the history as it is (and here fails loudly on V1, whose
    table exists). It must not go on as if the history were as it left it.
    """
    from test_apply_one_script import registry_of, tables

    conn = sqlite3.connect(tmp_path / "x.sqlite")

    def progress(step: object) -> None:
        if getattr(step, "version", None) == 101:
            (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'refinery_schema_history'").fetchone()
            changes = conn.total_changes
            conn.execute("ALTER TABLE refinery_schema_history RENAME TO old_history")
            conn.execute(ddl)
            conn.execute("DROP TABLE old_history")
            assert conn.total_changes == changes and not conn.in_transaction, "no row written, no transaction left open"

    try:
        try:
            report = run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102, 103)), progress=progress)
        except MigrationError:  # any named error: the run noticed
            return
        pytest.fail(f"the run reported {report.versions} over the history {[row[0] for row in history(conn)]}")
    finally:
        conn.close()


def test_a_history_row_a_trigger_silently_ignores_is_not_a_committed_migration(tmp_path: Path) -> None:
    """An operator's trigger on the history drops the rows of V101 on: no migration may commit without its row."""
    from test_apply_one_script import registry_of, tables

    conn = sqlite3.connect(tmp_path / "x.sqlite")
    try:
        run_agent_migrations(conn, registry=registry_of(*tables(100)))
        conn.execute(
            "CREATE TRIGGER ignore_rows BEFORE INSERT ON refinery_schema_history WHEN NEW.version >= 101 "
            "BEGIN SELECT RAISE(IGNORE); END"
        )
        try:
            run_agent_migrations(conn, registry=registry_of(*tables(100, 101, 102)))
        except MigrationError:
            pass  # refusing is right; what matters is what the database holds
        created = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE name IN ('g_101', 'g_102') ORDER BY name")]
        recorded = [row[0] for row in history(conn) if row[0] >= 101]
        assert created == [f"g_{version}" for version in recorded], f"tables {created} committed with history rows {recorded}"
    finally:
        conn.close()
