"""The hooks an agent plugin implements, and the markers for declaring them.

An agent is a distribution with an entry point in the ``nocodo_agents``
group; the entry point's name is the agent's name and its object (usually a
module) implements the hooks below, marked with :data:`hookimpl`.
"""

from __future__ import annotations

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
def nocodo_agents_migrations() -> list[Migration]:  # type: ignore[empty-body]
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


@hookspec
def nocodo_agents_requires() -> list[str]:  # type: ignore[empty-body]
    """Return the names of the agents whose migrations this agent's migrations need. Optional.

    Implement it when a migration of this agent refers to tables (or other
    objects) that another agent's migrations create, for example a
    ``FOREIGN KEY`` to them::

        from nocodo_agents.plugins import hookimpl, load_migrations

        @hookimpl
        def nocodo_agents_requires():
            return ["notes"]  # agent names, as in their entry points; '-' and '_' fold

        @hookimpl
        def nocodo_agents_migrations():
            return load_migrations("my_agent_pkg.migrations")

    Also list the distribution that provides each required agent in your
    distribution's ``dependencies`` (``Requires-Dist``), so that installing
    yours installs it; nocodo-agents names it when it is missing.

    The contract:

    - Called once per registry (the installed one lives as long as the
      process), right after :func:`nocodo_agents_migrations` and again
      whenever that is asked again, for each agent that is requested or
      required, never for the others. Keep it cheap: return a constant list;
      import nothing heavy.
    - Return a list (or tuple) of agent names (``str``). Returning this
      agent's own name, a name that is empty or not a string, or anything but
      a list is a :class:`~nocodo_agents.PluginLoadError` naming this agent and
      its distribution. An agent without this hook requires nothing.
    - ``core`` is required by every agent implicitly (it is always migrated);
      naming it is allowed and changes nothing.
    - Requesting an agent (``agents=[...]``, ``--agent``, ``Database(agents=[...])``)
      requests what it requires, transitively. A required agent that is not
      installed is a :class:`~nocodo_agents.RequiredAgentMissingError`, raised
      before the database is touched, naming both agents, this agent's
      distribution and the ``pip install`` that fixes it.
    - Cycles are allowed: every agent of a cycle is requested, and among the
      agents of one cycle migrations run by version.
    - Ordering: pending migrations run in version order, except that when
      an agent requires another, directly or transitively, and either of the
      two is new to the database (none of its versions applied, no history
      row attributed to it), all pending migrations of the required agent
      run before any pending migration of the requiring agent, whatever the
      version numbers. So on a fresh database the required agent's tables
      exist before this agent's first migration runs. Where a ``target``
      or a rollback would break that (apply a requiring agent's migration
      without all of a required agent's, or undo a required agent's
      migrations while migrations of an agent requiring it stay applied),
      the run stops before anything changes with
      :class:`~nocodo_agents.RequirementOrderError`.
    """
