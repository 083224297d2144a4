"""The command line's notes on what a run did not check: history rows and tables of agents it did not request.

A history row no requested agent provides belongs either to an agent that
is installed but was not requested (``--agent`` named others) or to one
that is not installed; a table no requested migration creates may be an
unrequested agent's. The notes say which, from the installed agents the run
already scanned (no statement, no import of the agents).
"""

from __future__ import annotations

from ..agent_entries import normalize_agent_name
from ..history import HistoryRow


def _installed_distributions() -> dict[str, str]:
    """The installed agents (normalized name) and their distributions, as the run saw them."""
    from ..discovery import AgentRegistry

    registry = AgentRegistry.installed()
    return {normalize_agent_name(name): registry.entry(name).distribution for name in registry.agent_names()}


def not_requested_row_note(row: HistoryRow, installed: dict[str, str] | None = None) -> str:
    """``note: ...`` for a history row no requested agent provides, telling "not requested" from "not installed"."""
    installed = _installed_distributions() if installed is None else installed
    distribution = installed.get(normalize_agent_name(row.agent)) if row.agent else None
    if distribution is not None:
        return (
            f"note: V{row.version}__{row.name} is applied by agent {row.agent!r} ({distribution}), which is installed "
            f"but was not requested (not checked)"
        )
    return f"note: V{row.version}__{row.name} is applied but not installed (agent {row.agent})"


def unmanaged_table_note(name: str) -> str:
    """``note: ...`` for a table no requested agent's migration creates (an unrequested agent's, or the application's)."""
    return f"note: {name} is not created by the requested agents' migrations (not checked)"
