"""The :class:`MigrationSet` value: the migrations one agent contributes, with where they come from.

A value of the lowest layer (no pluggy, no I/O), so that :mod:`.planning`
can take migration sets without importing the registry that loads them
(:mod:`.discovery`, which re-exports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from .migration import Migration


@dataclass(frozen=True)
class MigrationSet:
    """The migrations one agent contributes, with where they come from."""

    agent: str
    distribution: str
    version: str
    migrations: Tuple[Migration, ...]
