"""The command line's configuration: a ``[tool.nocodo-agents]`` table or a ``NOCODO_AGENTS_*`` variable that cannot be used."""

from __future__ import annotations

from .base import MigrationError


class ConfigError(MigrationError):
    """A setting of the command line's configuration is unknown or has a bad value: nothing was done.

    ``source`` says where it was read (``"/app/pyproject.toml [tool.nocodo-agents]"``
    or ``"environment variable NOCODO_AGENTS_LOCK_TIMEOUT"``), ``key`` names the
    setting there, ``problem`` says what is wrong with it.
    """

    def __init__(self, *, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(
            f"bad setting {key!r} in {source}: {problem}. Fix or remove it; `nocodo-agents config` shows every "
            f"setting and where it comes from."
        )
