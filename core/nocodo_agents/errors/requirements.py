"""Errors of dependencies between agents: a required agent missing, an order that versions make impossible."""

from __future__ import annotations

from collections.abc import Sequence

from .base import MigrationError


def _versions(versions: Sequence[int]) -> str:
    return ", ".join(f"V{v}" for v in versions)


class RequiredAgentMissingError(MigrationError):
    """A requested (or required) agent requires an agent that is not installed.

    ``agent`` is the missing agent, ``required_by`` the agent whose
    ``nocodo_agents_requires()`` names it and ``distribution`` that agent's
    distribution. ``install_hint`` is the ``pip install`` line to run;
    ``guessed`` says whether it is only a guess from the naming convention
    (``nocodo-agents-<name>``): no distribution named in ``distribution``'s
    requirements (``Requires-Dist``) is missing, and no extra of nocodo-agents provides it. ``autoload_disabled``: the
    agent may be installed, but ``NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD`` is set.
    """

    def __init__(
        self,
        *,
        agent: str,
        required_by: str,
        distribution: str,
        install_hint: str,
        guessed: bool,
        autoload_disabled: bool = False,
    ) -> None:
        self.agent = agent
        self.required_by = required_by
        self.distribution = distribution
        self.install_hint = install_hint
        self.guessed = guessed
        self.autoload_disabled = autoload_disabled
        head = (
            f"agent {required_by!r} (distribution {distribution}) requires agent {agent!r}, which is "
        )
        if autoload_disabled:
            super().__init__(
                f"{head}not loaded: NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD is set, so no agent is loaded from "
                f"the installed distributions. Nothing was changed. Unset it, or register {agent!r} in-process "
                f"with AgentRegistry.from_plugins() beside {required_by!r}."
            )
            return
        if guessed:
            how = (
                f"Install it, then run again: {install_hint} is a guess from the naming convention "
                f"(nocodo-agents-<agent name>); {distribution} names no missing distribution in its "
                f"requirements, so if that is not it, ask the authors of {distribution} which distribution "
                f"provides agent {agent!r}."
            )
        else:
            how = f"Install it, then run again: {install_hint}"
        super().__init__(f"{head}not installed. Nothing was changed. {how}")


class RequirementOrderError(MigrationError):
    """Versions make the order that agent requirements demand impossible for this target or rollback.

    ``agent`` (of ``distribution``) requires ``required_agent`` (of
    ``required_distribution``). ``operation`` is ``"migrate"`` or
    ``"rollback"`` and ``target`` its version. For ``migrate``:
    one of the two agents is new to the database, ``agent_versions`` are the
    requiring agent's migrations the target would apply and
    ``required_versions`` the required agent's it would leave out. For
    ``rollback``: ``required_versions`` would be undone while
    ``agent_versions`` stay applied.
    """

    def __init__(
        self,
        *,
        operation: str,
        target: int,
        agent: str,
        distribution: str,
        required_agent: str,
        required_distribution: str,
        agent_versions: Sequence[int],
        required_versions: Sequence[int],
    ) -> None:
        self.operation = operation
        self.target = target
        self.agent = agent
        self.distribution = distribution
        self.required_agent = required_agent
        self.required_distribution = required_distribution
        self.agent_versions = tuple(agent_versions)
        self.required_versions = tuple(required_versions)
        requiring = f"agent {agent!r} (distribution {distribution})"
        required = f"agent {required_agent!r} (distribution {required_distribution})"
        if operation == "rollback":
            super().__init__(
                f"rolling back to version {target} would undo {_versions(self.required_versions)} of {required} "
                f"while {_versions(self.agent_versions)} of {requiring}, which requires it, "
                f"{'stays' if len(self.agent_versions) == 1 else 'stay'} applied. Nothing was changed. Roll back "
                f"to a version below {min(self.agent_versions)} (undoing the migrations of {agent!r} too), or to "
                f"version {max(self.required_versions)} or above."
            )
            return
        super().__init__(
            f"target version {target} would apply {_versions(self.agent_versions)} of {requiring} but not "
            f"{_versions(self.required_versions)} of {required}, which it requires: where either agent is new "
            f"to this database, all of the required agent's pending migrations run before any of the requiring "
            f"agent's. "
            f"Nothing was changed. Use a target of {max(self.required_versions)} or above, or below "
            f"{min(self.agent_versions)}."
        )
