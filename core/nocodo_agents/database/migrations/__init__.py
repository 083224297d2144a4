"""The core migrations (V1-V3, one module each) and the runner's public entry points.

``run_agent_migrations`` and ``checksum`` are re-exported here, where the
original Rust crate had them (``nocodo_agents::database::migrations``).

The re-exports are imported on first use (module ``__getattr__``): the
``core`` agent loads this package to list its migration modules, and that
must not import the runner, which imports the registry that loads ``core``.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ...checksum import checksum
    from ...runner import MigrationReport, MigrationStep, run_agent_migrations

#: Where each re-exported name lives.
_LAZY: dict[str, str] = {
    "MigrationReport": "nocodo_agents.runner",
    "MigrationStep": "nocodo_agents.runner",
    "checksum": "nocodo_agents.checksum",
    "run_agent_migrations": "nocodo_agents.runner",
}

__all__ = ["MigrationReport", "MigrationStep", "checksum", "run_agent_migrations"]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
