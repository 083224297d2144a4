"""The ``pip install`` command that would most likely provide an agent that is missing, for the error naming it.

Read from the installed metadata (nocodo-agents' extras, the requiring
distribution's ``Requires-Dist``) only when an agent is missing, through
:mod:`importlib.metadata`. A hint is advice attached to an error that is
already on its way to the user: metadata that cannot be read or parsed (a
``METADATA`` that is not UTF-8, an unreadable file, a malformed requirement,
a missing ``Name``) never replaces that error with a bare ``ValueError`` or
``KeyError``; the hint then falls back to the naming convention, and says it
is a guess.
"""

from __future__ import annotations

import re
from typing import Any

from .agent_entries import importlib_metadata_module, normalize_agent_name
from .core_plugin import CORE_DISTRIBUTION

#: What importlib.metadata raises, bare, on a distribution's unreadable or malformed metadata file.
_METADATA_FAILURES = (OSError, ValueError, TypeError, KeyError, AttributeError, LookupError)

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _extras(importlib_metadata: Any) -> list[str]:
    """nocodo-agents' ``Provides-Extra`` values, as its installed metadata gives them (none where it cannot be read)."""
    try:
        metadata = importlib_metadata.metadata(CORE_DISTRIBUTION)
        extras = metadata.get_all("Provides-Extra") if metadata is not None else None
    except importlib_metadata.PackageNotFoundError:
        return []
    except _METADATA_FAILURES:
        return []
    return [extra for extra in extras or [] if isinstance(extra, str)]


def _core_extra_hint(dashed: str) -> str | None:
    """``pip install 'nocodo-agents[<dashed>]'`` if nocodo-agents has that extra, else ``None``."""
    return f"pip install 'nocodo-agents[{dashed}]'" if dashed in _extras(importlib_metadata_module()) else None


def install_hint(agent: str) -> str:
    """The ``pip install`` command that would most likely provide ``agent``."""
    dashed = normalize_agent_name(agent).replace("_", "-")
    extra = _core_extra_hint(dashed)
    if extra is not None:
        return extra
    return f"pip install nocodo-agents-{dashed} (or the distribution that provides agent {agent!r})"


def _installed(importlib_metadata: Any, name: str) -> bool:
    """Whether a distribution named ``name`` is installed (``True`` where that cannot be told: no advice to install it)."""
    try:
        importlib_metadata.distribution(name)
    except importlib_metadata.PackageNotFoundError:
        return False
    except _METADATA_FAILURES:
        return True
    return True


def _missing_requirements(distribution: str) -> list[str]:
    """The requirements (``Requires-Dist``, without extras' ones) of ``distribution`` not installed here.

    None where its metadata cannot be read; a requirement that does not
    start with a distribution name is skipped.
    """
    importlib_metadata = importlib_metadata_module()
    try:
        requirements = importlib_metadata.requires(distribution) or []
    except importlib_metadata.PackageNotFoundError:
        return []
    except _METADATA_FAILURES:
        return []
    missing = []
    for requirement in requirements:
        if not isinstance(requirement, str):
            continue
        spec, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        match = _REQUIREMENT_NAME.match(spec)
        if match is None:
            continue
        if not _installed(importlib_metadata, match.group(1)):
            missing.append(spec.strip())
    return missing


def required_agent_install_hint(agent: str, required_by_distribution: str) -> tuple[str, bool]:
    """The ``pip install`` that most likely provides ``agent``, required by an agent of ``required_by_distribution``.

    Prefers a distribution that ``required_by_distribution`` names in its
    requirements and that is not installed (the one whose name holds the
    agent's, if several are), then an extra of nocodo-agents; otherwise the
    guess ``nocodo-agents-<dashed name>``. The
    second value says whether it is a guess.
    """
    missing = _missing_requirements(required_by_distribution)
    folded = normalize_agent_name(agent)
    matching = [spec for spec in missing if folded in normalize_agent_name(_REQUIREMENT_NAME.match(spec).group(1))]  # type: ignore[union-attr]
    chosen = matching or missing
    if len(chosen) == 1:
        spec = chosen[0]
        return (f"pip install {spec!r}" if not _REQUIREMENT_NAME.fullmatch(spec) else f"pip install {spec}"), False
    if chosen:
        return "pip install " + " ".join(repr(spec) for spec in chosen), False
    dashed = folded.replace("_", "-")
    extra = _core_extra_hint(dashed)
    if extra is not None:
        return extra, False
    return f"pip install nocodo-agents-{dashed}", True
