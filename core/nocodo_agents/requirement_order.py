"""The order agent requirements impose on a plan: pure, no I/O.

An agent's ``nocodo_agents_requires()`` hook names the agents whose
migrations its migrations need; :func:`order_by_requirements` orders pending
migrations by that graph, :func:`replay_order` orders applied ones the way a
fresh database gets them, and :func:`check_requirement_target` /
:func:`check_requirement_rollback` refuse a target or rollback that would
break the rule (:class:`~nocodo_agents.errors.RequirementOrderError`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Protocol, TypeVar

from .errors import RequirementOrderError
from .history import HistoryRow

# -- the order agent requirements impose -------------------------------------------------------------
#
# An agent's ``nocodo_agents_requires()`` hook names the agents whose migrations its migrations need
# (``core`` is required by every agent, implicitly: the registry's requirement graph says so). The
# rule (stated in docs/authors/plugin-contract.md and in the hook's docstring): pending migrations run in version order,
# except that when an agent requires another, directly or transitively, and either of the two is
# *new to the database* (none of its versions applied, no history row attributed to it), all pending
# migrations of the required agent run before any pending migration of the requiring agent, whatever
# the version numbers. (That the requiring agent's being new counts too keeps the order through an
# interruption: once part of a new required agent's migrations is applied, it is no longer new, but
# the agent requiring it still is.) Agents of one cycle impose no order on each other. Ties and
# everything else go by version: a topological sort (Kahn's) taking the lowest version first. Where
# a target or a rollback would break the rule, :class:`RequirementOrderError` before anything changes.

#: agent -> the agents it requires directly (folded names, ``core`` included for every other agent).
Requirements = Mapping[str, tuple[str, ...]]


class _Owned(Protocol):
    """A migration with its agent and distribution (a :class:`PlannedMigration`)."""

    @property
    def version(self) -> int: ...

    @property
    def agent(self) -> str: ...

    @property
    def distribution(self) -> str: ...


M = TypeVar("M", bound=_Owned)


def transitive_requirements(graph: Requirements, agent: str) -> set[str]:
    """The agents ``agent`` requires, directly or transitively (itself only through a cycle)."""
    found: set[str] = set()
    stack = list(graph.get(agent, ()))
    while stack:
        required = stack.pop()
        if required not in found:
            found.add(required)
            stack.extend(graph.get(required, ()))
    return found


def strict_requirers(graph: Requirements) -> dict[str, frozenset[str]]:
    """Required agent -> the agents requiring it directly or transitively, without those in a cycle with it."""
    reach = {agent: transitive_requirements(graph, agent) for agent in graph}
    requirers: dict[str, set[str]] = {}
    for agent, required in reach.items():
        for other in required:
            if agent not in reach.get(other, set()):  # in a cycle together: no order between them
                requirers.setdefault(other, set()).add(agent)
    return {agent: frozenset(found) for agent, found in requirers.items()}


def new_agents(installed: Sequence[_Owned], history: Sequence[HistoryRow]) -> set[str]:
    """The agents of ``installed`` new to the database: none of their versions applied, no row attributed to them."""
    applied = {row.version for row in history}
    attributed = {row.agent for row in history}  # the runner records folded names
    agents = {p.agent for p in installed}
    touched = {p.agent for p in installed if p.version in applied}
    return {agent for agent in agents if agent not in touched and agent not in attributed}


def _blocking(
    pending: Sequence[_Owned], new: AbstractSet[str], graph: Requirements
) -> dict[str, set[str]]:
    """Requiring agent -> the agents it requires (with pending migrations) whose pending migrations must all run before any of its own.

    Those where either of the two is new to the database.
    """
    with_pending = {p.agent for p in pending}
    blocking: dict[str, set[str]] = {}
    for required, requirers in strict_requirers(graph).items():
        if required in with_pending:
            for agent in requirers & with_pending:
                if required in new or agent in new:
                    blocking.setdefault(agent, set()).add(required)
    return blocking


def _sorted(pending: Sequence[M], blocking: Mapping[str, set[str]]) -> tuple[M, ...]:
    """Kahn's topological sort of ``pending`` (in version order), lowest version first, holding back blocked agents."""
    if not blocking:
        return tuple(pending)
    left: dict[str, int] = {}
    for planned in pending:
        left[planned.agent] = left.get(planned.agent, 0) + 1
    waiting = {agent: set(blockers) for agent, blockers in blocking.items()}
    held: dict[str, list[M]] = {}
    ready: list[tuple[int, int, M]] = []
    for index, planned in enumerate(pending):
        if waiting.get(planned.agent):
            held.setdefault(planned.agent, []).append(planned)
        else:
            ready.append((planned.version, index, planned))
    heapq.heapify(ready)
    waited_by: dict[str, list[str]] = {}  # required agent -> the agents it holds back (each finished agent looks at its own)
    for agent, blockers in waiting.items():
        for required in blockers:
            waited_by.setdefault(required, []).append(agent)
    ordered: list[M] = []
    count = len(pending)
    while ready:
        _, _, planned = heapq.heappop(ready)
        ordered.append(planned)
        left[planned.agent] -= 1
        if left[planned.agent]:
            continue
        for agent in waited_by.get(planned.agent, ()):
            blockers = waiting[agent]
            blockers.discard(planned.agent)
            if not blockers:
                for waited in held.pop(agent, []):
                    count += 1
                    heapq.heappush(ready, (waited.version, count, waited))
    assert not held, "the agents a requirement holds back form no cycle (cycles impose no order)"
    return tuple(ordered)


def order_by_requirements(
    installed: Sequence[M], history: Sequence[HistoryRow], pending: Sequence[M], graph: Requirements
) -> tuple[M, ...]:
    """``pending`` (in version order) in the order the rule above gives."""
    if not pending:
        return tuple(pending)
    return _sorted(pending, _blocking(pending, new_agents(installed, history), graph))


def replay_order(migrations: Sequence[M], graph: Requirements) -> tuple[M, ...]:
    """``migrations`` (in version order) as a fresh database gets them: every agent new."""
    return _sorted(migrations, _blocking(migrations, {p.agent for p in migrations}, graph))


def _by_agent(migrations: Iterable[_Owned]) -> dict[str, list[_Owned]]:
    grouped: dict[str, list[_Owned]] = {}
    for planned in migrations:
        grouped.setdefault(planned.agent, []).append(planned)
    return grouped


def check_requirement_target(
    installed: Sequence[_Owned], history: Sequence[HistoryRow], graph: Requirements, target: int | None
) -> None:
    """Refuse a ``target`` applying a requiring agent's migration but leaving out part of a required agent's, one of the two being new."""
    if target is None:
        return
    applied = {row.version for row in history}
    unapplied = _by_agent(p for p in installed if p.version not in applied)
    new = new_agents(installed, history)
    _refuse_split(
        "migrate",
        target,
        graph,
        kept={agent: [p for p in found if p.version <= target] for agent, found in unapplied.items()},
        left={agent: [p for p in found if p.version > target] for agent, found in unapplied.items()},
        new=new,
    )


def check_requirement_rollback(
    installed: Sequence[_Owned], history: Sequence[HistoryRow], graph: Requirements, to: int
) -> None:
    """Refuse rolling back to ``to`` if it undoes a required agent's migration while one of an agent requiring it stays."""
    applied = {row.version for row in history}
    recorded = _by_agent(p for p in installed if p.version in applied)
    _refuse_split(
        "rollback",
        to,
        graph,
        kept={agent: [p for p in found if p.version <= to] for agent, found in recorded.items()},
        left={agent: [p for p in found if p.version > to] for agent, found in recorded.items()},
        new=None,
    )


def _refuse_split(
    operation: str,
    target: int,
    graph: Requirements,
    *,
    kept: Mapping[str, list[_Owned]],
    left: Mapping[str, list[_Owned]],
    new: AbstractSet[str] | None,
) -> None:
    """Raise :class:`RequirementOrderError` for the first requiring agent with migrations ``kept`` while its required agent has some ``left``.

    ``kept``/``left``: by agent, the migrations on either side of ``target``
    (applied by a migrate to it, or staying after a rollback to it, and the
    rest). ``new``: only a pair of which either agent is new to the database
    counts (a migrate); ``None``: every pair counts (a rollback).
    """
    for required, requirers in sorted(strict_requirers(graph).items()):
        left_out = left.get(required)
        if not left_out:
            continue
        for agent in sorted(requirers):
            included = kept.get(agent)
            if included and (new is None or required in new or agent in new):
                raise RequirementOrderError(
                    operation=operation,
                    target=target,
                    agent=agent,
                    distribution=included[0].distribution,
                    required_agent=required,
                    required_distribution=left_out[0].distribution,
                    agent_versions=[p.version for p in included],
                    required_versions=[p.version for p in left_out],
                )
