"""Errors found while planning a run, before any database work: conflicting versions, divergent applied migrations."""

from __future__ import annotations

from .base import MigrationError

#: How a library user re-records checksums (the command line's ``repair``).
REPAIR_CALL = "nocodo_agents.lifecycle.repair_history(conn)"


class MigrationConflictError(MigrationError):
    """Two agents claim the same version: two requested migration sets, or the history and a requested set.

    Two forms. Two requested sets claiming one version: ``first`` and
    ``second`` are (agent, distribution, migration source), and
    ``recorded_agent`` is ``None``. A version the history records as applied
    by agent ``recorded_agent`` (its row named ``applied_name``) and claimed
    by the requested agent ``agent`` of ``distribution`` with the file
    ``source``: ``first`` and ``second`` are ``None``. The second form is
    never repairable: the history row belongs to the other agent, and stays
    as it is; the claiming agent's migration must be renumbered.
    ``journalled`` (``"migration"`` or ``"rollback"``): the version is not in
    the history but in MySQL's journal, as an unfinished run of
    ``recorded_agent`` (``resolve`` refuses to settle it as ``agent``'s).
    ``requiring``: in the first form, which of the two agents requires the
    other (both are then always requested together).
    """

    def __init__(
        self,
        *,
        version: int,
        first: tuple[str, str, str] | None = None,
        second: tuple[str, str, str] | None = None,
        recorded_agent: str | None = None,
        applied_name: str | None = None,
        agent: str | None = None,
        distribution: str | None = None,
        source: str | None = None,
        journalled: str | None = None,
        requiring: str | None = None,
    ) -> None:
        self.version = version
        self.journalled = journalled
        self.requiring = requiring
        self.first = None if first is None else tuple(first)
        self.second = None if second is None else tuple(second)
        self.recorded_agent = recorded_agent
        self.applied_name = applied_name
        self.agent = agent
        self.distribution = distribution
        self.source = source
        if recorded_agent is not None:
            super().__init__(
                history_conflict_message(version, recorded_agent, applied_name, agent, distribution, source, journalled)
            )
            return
        if first is None or second is None:
            raise TypeError("MigrationConflictError takes first= and second=, or recorded_agent= and agent=")
        if first[0] == second[0]:
            super().__init__(
                f"version {version} is claimed twice within agent {first[0]!r} (distribution "
                f"{first[1]}): by {first[2]} and by {second[2]}. Nothing was changed. Renumber or "
                f"remove one of the two files (versions compare as numbers: V01 is V1)."
            )
            return
        super().__init__(
            f"version {version} is claimed twice: by {first[2]} of agent {first[0]!r} "
            f"(distribution {first[1]}) and by {second[2]} of agent {second[0]!r} "
            f"(distribution {second[1]}). Nothing was changed. "
            + (
                f"Renumber one of them: agent {requiring!r} requires the other, so the two are always requested together."
                if requiring
                else "Renumber one of them, or do not request both agents in one run."
            )
        )

    @property
    def in_history(self) -> bool:
        """Whether the version is claimed against the history (a row of another agent), not by two requested sets."""
        return self.recorded_agent is not None


def history_conflict_message(
    version: int,
    recorded_agent: str,
    applied_name: str | None,
    agent: str | None,
    distribution: str | None,
    source: str | None,
    journalled: str | None = None,
) -> str:
    """The message of a version the history (or, ``journalled``, the journal) records for ``recorded_agent`` and ``agent`` claims."""
    applied = f" as {applied_name!r}" if applied_name else ""
    claim = f"by {source} of agent {agent!r} (distribution {distribution})" if source else f"by agent {agent!r}"
    if journalled:
        recorded = f"recorded in the migration journal{applied} as an unfinished {journalled} of agent {recorded_agent!r}"
        kept = f"what agent {recorded_agent!r}'s run left must be settled as agent {recorded_agent!r}'s (by a run requesting it)"
    else:
        recorded = f"recorded in the history{applied} as applied by agent {recorded_agent!r}"
        kept = (
            f"the history row of agent {recorded_agent!r} must stay as it is (re-recording it would hand agent "
            f"{recorded_agent!r}'s migration to agent {agent!r})"
        )
    return (
        f"version {version} is {recorded}, and is "
        f"claimed {claim}: two agents chose the same version. Nothing was changed, and {kept}. "
        f"Resolve it by renumbering the migration of agent {agent!r}: give it "
        f"a new version no other agent uses (a UTC timestamp such as V20261201120000, which the publisher of "
        f"{distribution or 'that agent'} releases), or do not request agent {agent!r} for this database."
    )


class DivergentMigrationError(MigrationError):
    """An applied migration's name or checksum differs from the installed one.

    ``recorded_agent`` is the history row's attribution (``None``: the row
    was written by refinery, or by a release before agents were recorded).
    """

    def __init__(
        self,
        *,
        version: int,
        applied_name: str,
        applied_checksum: str,
        installed_name: str,
        installed_checksum: int,
        source: str,
        agent: str,
        distribution: str,
        recorded_agent: str | None,
    ) -> None:
        self.version = version
        self.applied_name = applied_name
        self.applied_checksum = applied_checksum
        self.installed_name = installed_name
        self.installed_checksum = installed_checksum
        self.source = source
        self.agent = agent
        self.distribution = distribution
        self.recorded_agent = recorded_agent
        if applied_name != installed_name:
            what = (
                f"the history records it as {applied_name!r} but the installed file "
                f"{source} names it {installed_name!r}"
            )
        else:
            what = (
                f"its checksum in the history ({applied_checksum}) differs from the "
                f"installed file {source} ({installed_checksum})"
            )
            if recorded_agent is not None:
                what += ": the file was edited after it was applied"
        if recorded_agent is None:
            origin = (
                " The history row has no agent attribution, so it was most likely written by "
                "refinery (for example by the original Rust nocodo-agents crate, whose SQL text "
                "differs byte for byte). If the schema is the one this migration creates, re-record "
                f"the checksums with {REPAIR_CALL} (the command line's repair)."
            )
        else:
            origin = (
                f" Restore the file to the text that was applied (distribution {distribution}), "
                f"or, if the change is intended and the schema already matches, re-record its checksum "
                f"with {REPAIR_CALL} (the command line's repair). Never edit a migration that has been "
                f"applied: add a new one."
            )
        super().__init__(
            f"applied migration V{version} of agent {agent!r} diverges: {what}.{origin}"
        )


class HistoryAttributionError(MigrationConflictError):
    """A history write (repair, record, rollback, resolve) found the version's row attributed to another agent, and changed nothing.

    The defensive twin of :class:`MigrationConflictError`'s history form, raised
    by the history table itself: its writes of an existing row (re-recording
    it, deleting it) only match a row that has no agent or the writer's
    agent. ``agent`` is the writer's, ``recorded_agent`` the row's
    (``None``: no row of ``version`` was found at all), ``database`` where
    it is, ``write`` what was refused (``"re-record"`` or ``"delete"``). The
    write transaction is left to roll back.
    """

    def __init__(
        self, *, version: int, agent: str, recorded_agent: str | None, database: str, write: str = "re-record"
    ) -> None:
        self.version = version
        self.first = None
        self.second = None
        self.recorded_agent = recorded_agent
        self.applied_name = None
        self.agent = agent
        self.distribution = None
        self.source = None
        self.database = database
        self.write = write
        doing = "deleting" if write == "delete" else "re-recording"
        if recorded_agent is None:
            MigrationError.__init__(
                self,
                f"{doing} version {version} for agent {agent!r} in the history of {database} matched no row: "
                f"another runner removed it. Nothing was changed; run the command again.",
            )
            return
        undo = (
            f"Agent {agent!r} claims a version agent {recorded_agent!r} applied: never roll it back or resolve it "
            f"as agent {agent!r}'s. Request agent {recorded_agent!r} to roll back its own migration"
            if write == "delete"
            else f"Two agents chose the same version: renumber the migration of agent {agent!r} (a new "
            f"version no other agent uses, such as a UTC timestamp), or do not request agent {agent!r}"
        )
        MigrationError.__init__(
            self,
            f"refused to {'delete' if write == 'delete' else 're-record'} version {version} for agent {agent!r} in "
            f"the history of {database}: its row is attributed to agent {recorded_agent!r}, and one agent never "
            f"touches another's history. Nothing was changed. {undo}.",
        )
