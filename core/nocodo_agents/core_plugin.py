"""The built-in ``core`` agent: the tables every agent needs (V1-V3).

Registered through the same hook as any installed agent.
"""


from .hookspecs import hookimpl
from .loading import load_migrations
from .migration import Migration

#: The agent name of the core migrations, reserved.
CORE_AGENT = "core"
#: The distribution that ships them.
CORE_DISTRIBUTION = "nocodo-agents"


@hookimpl
def nocodo_agents_migrations() -> list[Migration]:
    return load_migrations("nocodo_agents.database.migrations")
