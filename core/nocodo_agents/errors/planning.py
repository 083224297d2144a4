"""Errors found while planning a run, before any database work: conflicting versions, divergent applied migrations."""

from __future__ import annotations

from typing import Optional, Tuple

from .base import MigrationError

#: How a library user re-records checksums (the command line's ``repair``).
REPAIR_CALL = "nocodo_agents.lifecycle.repair_history(conn)"


class MigrationConflictError(MigrationError):
    """Two requested migration sets claim the same version.

    ``first`` and ``second`` are (agent, distribution, migration source).
    """

    def __init__(self, *, version: int, first: Tuple[str, str, str], second: Tuple[str, str, str]) -> None:
        self.version = version
        self.first = tuple(first)
        self.second = tuple(second)
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
            f"(distribution {second[1]}). Nothing was changed. Renumber one of them, or do "
            f"not request both agents in one run."
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
        recorded_agent: Optional[str],
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
