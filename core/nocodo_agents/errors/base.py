"""The root of every error, the errors of bad arguments, and the facts of a migration an error names.

Every error class takes its facts as keyword-only parameters and keeps each
under the same name as an attribute, so programs can act on them; its
message (``str(error)``) names them and says what to do next in the
library's terms. Advice in terms of the ``nocodo-agents`` command line is
the command line's own (:mod:`nocodo_agents.cli.hints`).
"""

from __future__ import annotations

from typing import Any, Protocol


class MigrationError(Exception):
    """Base class of every error raised by nocodo-agents."""


class InvalidArgumentError(MigrationError, ValueError):
    """An argument of a library call is out of range (``lock_timeout=``, ``target=``): nothing was done.

    ``argument`` names it as it is passed (``"target="``), ``value`` is what
    was given, ``expected`` says what it must be. Also a :class:`ValueError`.
    """

    def __init__(self, *, argument: str, value: object, expected: str) -> None:
        self.argument = argument
        self.value = value
        self.expected = expected
        super().__init__(f"{argument} must be {expected}, not {value!r}")


class InvalidArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of a library call is of the wrong type (``agents="x"``): nothing was done.

    Also a :class:`TypeError` (as it used to be) and a :class:`ValueError`.
    """


class MigrationFacts(Protocol):
    """What names a migration in a message: a :class:`~nocodo_agents.planning.PlannedMigration` has it."""

    version: int
    name: str
    agent: str
    distribution: str
    source: str


def migration_facts(migration: MigrationFacts) -> dict[str, Any]:
    """The keyword facts naming ``migration`` (version, name, agent, distribution, source), for an error's constructor.

    ``raise MigrationFailedError(**migration_facts(planned), statement=..., ...)``.
    """
    return {
        "version": migration.version,
        "name": migration.name,
        "agent": migration.agent,
        "distribution": migration.distribution,
        "source": migration.source,
    }



def resolve_calls(version: int) -> str:
    """How a library user settles an unfinished ``version`` either way (the command line's ``resolve``)."""
    return (
        f"nocodo_agents.lifecycle.resolve_unfinished(conn, {version}, applied=True) or "
        f"resolve_unfinished(conn, {version}, applied=False) (the command line's resolve)"
    )


def resolve_call(version: int, applied: bool) -> str:
    """How a library user settles an unfinished ``version`` as applied or as absent."""
    return f"nocodo_agents.lifecycle.resolve_unfinished(conn, {version}, applied={applied})"
