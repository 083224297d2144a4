"""Pure planning: merge, verify, pending, out of order, not installed. No database."""

import pytest

from nocodo_agents import DivergentMigrationError, Migration, MigrationConflictError
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.history import HistoryRow
from nocodo_agents.migration_set import MigrationSet
from nocodo_agents.planning import make_plan, merge


def mset(agent: str, *versions: int) -> MigrationSet:
    return MigrationSet(agent, f"dist-{agent}", "1.0", tuple(Migration(v, f"m{v}", f"SELECT {v};") for v in versions))


def row(version: int, agent="core", name=None, checksum=None) -> HistoryRow:
    name = name or f"m{version}"
    migration = Migration(version, f"m{version}", f"SELECT {version};")
    return HistoryRow(version, name, "2024-01-01T00:00:00Z", checksum or str(migration.checksum("sqlite")), agent)


def test_merge_orders_by_version_across_agents() -> None:
    merged = merge([mset("b", 9, 4), mset("core", 1, 2, 3), mset("a", 5)])
    assert [(p.version, p.agent) for p in merged] == [(1, "core"), (2, "core"), (3, "core"), (4, "b"), (5, "a"), (9, "b")]


def test_merge_refuses_a_version_claimed_twice_naming_both() -> None:
    with pytest.raises(MigrationConflictError) as raised:
        merge([mset("core", 1, 2, 3), mset("alpha", 4), mset("beta", 4)])
    error = raised.value
    assert error.version == 4
    assert error.first[:2] == ("alpha", "dist-alpha") and error.second[:2] == ("beta", "dist-beta")
    assert "dist-alpha" in str(error) and "dist-beta" in str(error)


def test_fresh_database_plans_everything() -> None:
    plan = make_plan(merge([mset("core", 1, 2, 3), mset("qna", 4)]), [], "sqlite")
    assert [p.version for p in plan.pending] == [1, 2, 3, 4]
    assert plan.out_of_order == frozenset() and plan.not_installed == ()


def test_up_to_date_plans_nothing() -> None:
    plan = make_plan(merge([mset("core", 1, 2)]), [row(1), row(2)], "sqlite")
    assert plan.pending == () and len(plan.applied) == 2


def test_agent_installed_later_is_out_of_order() -> None:
    installed = merge([mset("core", 1, 2, 3), mset("late", 4), mset("early", 5)])
    plan = make_plan(installed, [row(1), row(2), row(3), row(5, agent="early")], "sqlite")
    assert [p.version for p in plan.pending] == [4]
    assert plan.out_of_order == frozenset({4})


def test_applied_but_not_installed_is_reported_not_fatal() -> None:
    plan = make_plan(merge([mset("core", 1, 2, 3)]), [row(1), row(2), row(3), row(4, agent="gone")], "sqlite")
    assert [r.version for r in plan.not_installed] == [4]
    assert plan.pending == ()


def test_target_stops_after_that_version() -> None:
    plan = make_plan(merge([mset("core", 1, 2, 3), mset("qna", 4)]), [], "sqlite", target=2)
    assert [p.version for p in plan.pending] == [1, 2]


@pytest.mark.parametrize("bad", [-1, 2**63, "3", True])
def test_invalid_target(bad) -> None:
    with pytest.raises(ValueError, match="target="):
        make_plan(merge([mset("core", 1)]), [], "sqlite", target=bad)


def test_edited_file_is_divergent() -> None:
    with pytest.raises(DivergentMigrationError) as raised:
        make_plan(merge([mset("core", 1, 2)]), [row(1), row(2, checksum="123")], "sqlite")
    error = raised.value
    assert error.version == 2 and error.agent == "core" and error.distribution == "dist-core"
    assert "edited after it was applied" in str(error)
    assert "repair" in str(error)


def test_renamed_file_is_divergent() -> None:
    with pytest.raises(DivergentMigrationError, match="records it as 'old_name'"):
        make_plan(merge([mset("core", 1)]), [row(1, name="old_name")], "sqlite")


def test_history_written_by_refinery_points_to_repair() -> None:
    with pytest.raises(DivergentMigrationError) as raised:
        make_plan(merge([mset("core", 1)]), [row(1, agent=None, checksum="42")], "sqlite")
    assert "refinery" in str(raised.value) and "repair_history(conn)" in str(raised.value)
    assert "`nocodo-agents repair`" in hint_for(raised.value)
