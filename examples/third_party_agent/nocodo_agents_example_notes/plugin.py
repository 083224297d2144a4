"""The nocodo-agents plugin of the example notes agent (entry point ``example_notes``)."""

from __future__ import annotations

from nocodo_agents.plugins import Migration, hookimpl, load_migrations


@hookimpl
def nocodo_agents_requires() -> list[str]:
    # The agents whose tables this agent's migrations refer to. ``core`` (agent_sessions, which
    # example_notes.session_id refers to) is always migrated, so naming it changes nothing; it is
    # here to show the hook. Name another agent here (and list its distribution in your
    # pyproject's dependencies) when your migrations refer to its tables.
    return ["core"]


@hookimpl
def nocodo_agents_migrations() -> list[Migration]:
    return load_migrations("nocodo_agents_example_notes.migrations")
