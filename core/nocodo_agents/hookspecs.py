"""The hooks an agent plugin implements, and the markers for declaring them.

An agent is a distribution with an entry point in the ``nocodo_agents``
group; the entry point's name is the agent's name and its object (usually a
module) implements the hooks below, marked with :data:`hookimpl`.
"""

from __future__ import annotations

from typing import List

import pluggy

from .migration import Migration

#: The pluggy project name shared by nocodo-agents and every agent plugin.
PROJECT_NAME = "nocodo_agents"

#: The entry point group agents register under.
ENTRY_POINT_GROUP = "nocodo_agents"

#: Marks a function as the specification of a hook (used by nocodo-agents itself).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Marks a plugin's function as the implementation of a hook.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def nocodo_agents_migrations() -> List[Migration]:  # type: ignore[empty-body]
    """Return this agent's migrations.

    Return a list of :class:`~nocodo_agents.Migration` objects, usually built by
    :func:`~nocodo_agents.plugins.load_migrations` from a package of
    ``V{version}__{name}.py`` modules (or refinery ``V{version}__{name}.sql`` files)::

        from nocodo_agents.plugins import hookimpl, load_migrations

        @hookimpl
        def nocodo_agents_migrations():
            return load_migrations("my_agent_pkg.migrations")

    Called once per run for each requested agent, never for agents that were
    not requested. Versions must be unique across every agent that is
    migrated together; the runner orders all migrations by version, never by
    the order plugins are called in. Keep this function cheap: list the
    migrations, do not produce their SQL.
    """
