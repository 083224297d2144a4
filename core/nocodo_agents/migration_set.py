"""The :class:`MigrationSet` value: the migrations one agent contributes, with where they come from.

A value of the lowest layer (no pluggy, no I/O), so that :mod:`.planning`
can take migration sets without importing the registry that loads them
(:mod:`.discovery`, which re-exports it).
"""

from __future__ import annotations

from dataclasses import dataclass

from .migration import Migration


@dataclass(frozen=True)
class MigrationSet:
    """The migrations one agent contributes, with where they come from.

    ``requires`` holds the agents its ``nocodo_agents_requires()`` hook names
    (folded names, as declared, ``core`` left as declared; empty without the hook).
    """

    agent: str
    distribution: str
    version: str
    migrations: tuple[Migration, ...]
    requires: tuple[str, ...] = ()
