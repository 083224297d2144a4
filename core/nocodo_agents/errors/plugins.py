"""Errors of agents and their migration files: malformed files, plugins that fail to load, unknown or duplicate agents."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from .base import MigrationError


class InvalidMigrationError(MigrationError):
    """A migration module or object is malformed (name, version, SQL).

    ``source`` is the file (or object) at fault, ``problem`` what is wrong
    with it, ``agent`` the agent providing it when known.
    """

    def __init__(self, *, source: str, problem: str, agent: str | None = None) -> None:
        self.source = source
        self.problem = problem
        self.agent = agent
        who = f" (agent {agent!r})" if agent else ""
        super().__init__(f"invalid migration {source}{who}: {problem}")


class PluginLoadError(MigrationError):
    """An agent plugin failed to import, its hook raised, or it returned something malformed."""

    def __init__(
        self, *, agent: str, distribution: str, cause: str, required_by: tuple[str, str] | None = None
    ) -> None:
        self.agent = agent
        self.distribution = distribution
        self.cause = cause
        #: (agent, distribution) of the requested agent that requires this one; ``None``: it was requested itself.
        self.required_by = None if required_by is None else tuple(required_by)
        if required_by is None:
            leave = f"or leave {agent!r} out of `agents=`"
        else:
            leave = (
                f"or leave agent {required_by[0]!r} (distribution {required_by[1]}), which requires agent {agent!r}, "
                f"out of `agents=`"
            )
        super().__init__(
            f"agent {agent!r} from distribution {distribution} could not be loaded: {cause}. "
            f"Reinstall or upgrade {distribution}, {leave}."
        )


class DuplicateAgentError(MigrationError):
    """Two distributions register the same agent name (or one claims the reserved name ``core``)."""

    def __init__(self, *, agent: str, distributions: Sequence[str]) -> None:
        self.agent = agent
        self.distributions = tuple(distributions)
        listed = " and ".join(self.distributions)
        reserved = (
            " The name 'core' is reserved for the migrations of nocodo-agents itself."
            if agent == "core"
            else ""
        )
        super().__init__(
            f"agent name {agent!r} is registered by more than one distribution: {listed}.{reserved} "
            f"Uninstall one of them (pip uninstall ...) or ask its author to rename the "
            f"entry point in the 'nocodo_agents' group."
        )


class UnknownAgentError(MigrationError):
    """A requested agent is not installed (or not loaded: plugin autoload is disabled).

    ``installed`` lists the agents there are (sorted), ``install_hint`` the
    ``pip install`` line that would bring the agent.
    """

    def __init__(self, *, agent: str, installed: Iterable[str], install_hint: str, autoload_disabled: bool = False) -> None:
        self.agent = agent
        self.installed = tuple(sorted(installed))
        self.install_hint = install_hint
        self.autoload_disabled = autoload_disabled
        listed = ", ".join(self.installed) if self.installed else "none"
        if autoload_disabled:
            super().__init__(
                f"agent {agent!r} is not loaded: NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD is set, so no agent "
                f"is loaded from the installed distributions (loaded agents: {listed}). Unset it to use "
                f"installed agents, or register the agent in-process with AgentRegistry.from_plugins()."
            )
            return
        super().__init__(
            f"agent {agent!r} is not installed (installed agents: {listed}). "
            f"Install it with: {install_hint}"
        )


class InstalledMetadataError(MigrationError):
    """An installed distribution's metadata cannot be read, so the installed agents cannot be listed.

    Finding the agents reads the ``entry_points.txt`` of every installed
    distribution (agent or not), and the ``METADATA`` of those providing an
    agent: one broken file stops discovery, whatever the agents requested.
    ``distribution`` is the distribution's name (from its metadata, else its
    folder's name; ``None`` if neither tells), ``version`` its version when
    known, ``path`` the file (or folder) at fault when known, ``problem``
    what is wrong with it. ``uninstall`` and ``install`` are the ``pip``
    commands that remove it and install it again (``None`` without a name).
    """

    def __init__(
        self,
        *,
        distribution: str | None,
        problem: str,
        path: str | None = None,
        version: str | None = None,
    ) -> None:
        self.distribution = distribution
        self.version = version
        self.path = path
        self.problem = problem
        self.uninstall: str | None = None
        self.install: str | None = None
        if distribution:
            self.uninstall = f"pip uninstall {distribution}"
            self.install = f"pip install '{distribution}=={version}'" if version else f"pip install {distribution}"
            which = f"distribution {distribution}" + (f" {version}" if version else "")
            todo = f"Reinstall it ({self.uninstall}, then {self.install}) or remove it ({self.uninstall})"
        else:
            which = "a distribution"
            todo = "Reinstall or remove the distribution it belongs to (pip uninstall, pip install)"
        where = f" ({path})" if path else ""
        if path:
            folder = os.path.dirname(path) if os.path.basename(path) in _METADATA_FILES else path
            todo += f"; if pip cannot, delete the folder {folder}"
        super().__init__(
            f"the installed metadata of {which}{where} cannot be read: {problem}. "
            f"Agents are found by reading every installed distribution's entry points, so none can be listed "
            f"until it is repaired. {todo}."
        )


#: The files of a ``*.dist-info``/``*.egg-info`` folder that :class:`InstalledMetadataError` may name.
_METADATA_FILES = frozenset({"entry_points.txt", "METADATA", "PKG-INFO"})
