"""The nocodo-agents plugin of the requirements Q&A agent (entry point ``requirements_qna``)."""


from nocodo_agents.plugins import Migration, hookimpl, load_migrations


@hookimpl
def nocodo_agents_migrations() -> list[Migration]:
    return load_migrations("nocodo_agents_requirements_qna.migrations")
