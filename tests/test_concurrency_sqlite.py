"""A fleet of runners starting at once on one SQLite file applies each migration exactly once."""

import sqlite3

from fleet import assert_each_applied_once, run_fleet


def test_sixteen_runners_at_once(tmp_path, agent_package) -> None:
    package = agent_package({f"V{v}__fleet_{v}": f"CREATE TABLE fleet_{v} (id INTEGER);" for v in range(4, 14)})
    db_path = str(tmp_path / "fleet.sqlite")
    # A short sqlite3 timeout: the runner's own lock_timeout must be what governs the waits.
    outcomes = run_fleet(lambda: sqlite3.connect(db_path, timeout=0.1), package)
    assert_each_applied_once(outcomes, range(1, 14))
    connection = sqlite3.connect(db_path)
    rows = connection.execute("SELECT version FROM refinery_schema_history ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, 14))
    connection.close()
