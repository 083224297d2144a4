"""Which comparison tools are installed here, and their versions.

The peers live in the benchmark's own environment (benchmarks/run.sh), never
in the project's dependencies; anywhere else (the test environment) a missing
peer is reported as "not installed" and its rows are skipped.
"""

from __future__ import annotations

import importlib.util
from importlib import metadata

#: peer name in the tables -> (module to import, distributions whose versions name what was measured)
PEERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "yoyo": ("yoyo", ("yoyo-migrations",)),
    "sqlite-utils": ("sqlite_utils", ("sqlite-utils",)),
    "alembic": ("alembic", ("alembic", "SQLAlchemy")),
    "matplotlib": ("matplotlib", ("matplotlib",)),
    "psycopg": ("psycopg", ("psycopg",)),
    "pymysql": ("pymysql", ("PyMySQL",)),
}


def version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def installed(peer: str) -> bool:
    """Whether ``peer``'s module can be imported here."""
    module, _ = PEERS[peer]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def label(peer: str) -> str:
    """``peer`` with the versions measured, e.g. ``sqlite-utils (sqlite-utils 3.38, sqlite-migrate 0.1b0)``."""
    _, distributions = PEERS[peer]
    return ", ".join(f"{d} {version(d) or '?'}" for d in distributions)


def missing(peer: str) -> str:
    """The note for a peer that is not installed."""
    return f"not installed ({' + '.join(PEERS[peer][1])}): run bash benchmarks/run.sh"
