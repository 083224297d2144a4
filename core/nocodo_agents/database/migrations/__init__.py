"""The core migrations (V1-V3, one module each) and the runner's public entry points.

``run_agent_migrations`` and ``checksum`` are re-exported here, where the
original Rust crate had them (``nocodo_agents::database::migrations``).
"""

from ...checksum import checksum
from ...runner import MigrationReport, MigrationStep, run_agent_migrations

__all__ = ["MigrationReport", "MigrationStep", "checksum", "run_agent_migrations"]
