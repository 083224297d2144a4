"""Where ``new`` writes: the migrations package an agent name or import name stands for, and whether it is an installed copy.

``new`` takes an agent's name as the registry knows it (``requirements-qna``
and ``requirements_qna`` alike) or an import name; :func:`migrations_target`
resolves either to the package's dotted name and directory. A directory
inside ``site-packages`` (an installed wheel, not the author's source tree)
is refused unless forced (:func:`installed_root`).
"""

from __future__ import annotations

import importlib
import importlib.util
import site
import sysconfig
from pathlib import Path
from typing import List, NamedTuple, Optional

from .agent_entries import normalize_agent_name
from .discovery import AgentRegistry
from .errors import MigrationError, ScaffoldError

#: The directory names installers put distributions in (Debian's Python uses dist-packages).
_INSTALL_DIRECTORY_NAMES = ("site-packages", "dist-packages")


class MigrationsTarget(NamedTuple):
    """A migrations package ``new`` writes into: its dotted name and directory (which may not exist yet)."""

    package: str
    directory: Path


def installed_root(directory: Path) -> Optional[Path]:
    """The site-packages (or dist-packages) directory ``directory`` lies in, or ``None`` for a source tree.

    Checked against this interpreter's ``purelib``/``platlib`` paths and
    :mod:`site`'s package directories, and by name for any other
    environment's. An editable install (``pip install -e``) points into the
    author's source tree, so it is ``None``.
    """
    resolved = directory.resolve()
    roots: List[str] = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    roots.extend(getattr(site, "getsitepackages", lambda: [])())
    user = getattr(site, "getusersitepackages", lambda: None)()
    if user:
        roots.append(user)
    for root in roots:
        path = Path(root).resolve()
        if resolved == path or path in resolved.parents:
            return path
    for parent in (resolved, *resolved.parents):
        if parent.name in _INSTALL_DIRECTORY_NAMES:
            return parent
    return None


def _agent_package(registry: AgentRegistry, agent: str) -> str:
    """The dotted name of ``agent``'s migrations package (or, with no module migration yet, of its plugin's package)."""
    entry = registry.entry(agent)
    try:
        migration_set = registry.migration_set(agent)
    except MigrationError as error:
        raise ScaffoldError(target=f"agent {agent!r}", problem=f"its migrations cannot be listed: {error}") from error
    for migration in migration_set.migrations:
        module_name = getattr(migration, "module_name", None)
        if module_name:
            return str(module_name).rsplit(".", 1)[0]
    module = entry.target.split(":", 1)[0]
    return module.rsplit(".", 1)[0] if "." in module else module


def _package_directory(package: str) -> Optional[Path]:
    """The directory of the importable package ``package``, ``None`` if there is no such package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError) as error:
        raise ScaffoldError(target=package, problem=f"cannot import it: {error}") from error
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def migrations_target(registry: AgentRegistry, agent_or_package: str) -> MigrationsTarget:
    """The migrations package ``agent_or_package`` stands for: an installed agent's (any spelling), else the import name's.

    An importable package holding ``V{n}__*`` files, or named ``migrations``,
    is itself the target; any other package's ``migrations`` subpackage is
    (created by :func:`create_package` if missing). Neither an agent nor a
    package: :class:`ScaffoldError` listing the installed agents.
    """
    names = registry.agent_names()
    if normalize_agent_name(agent_or_package) in {normalize_agent_name(name) for name in names}:
        package = _agent_package(registry, agent_or_package)
    else:
        package = agent_or_package
    directory = _package_directory(package)
    if directory is None:
        raise ScaffoldError(
            target=agent_or_package,
            problem=(
                f"it is neither an installed agent (installed: {', '.join(names)}; a dashed name such as "
                f"requirements-qna works too) nor an importable package (is it installed, or on PYTHONPATH?)"
            ),
        )
    if package.rsplit(".", 1)[-1] == "migrations" or any(directory.glob("V[0-9]*__*.py")) or any(directory.glob("V[0-9]*__*.sql")):
        return MigrationsTarget(package, directory)
    return MigrationsTarget(f"{package}.migrations", directory / "migrations")


def create_package(target: MigrationsTarget) -> None:
    """Create ``target``'s directory as a package if it does not exist yet."""
    if target.directory.exists():
        return
    target.directory.mkdir()
    (target.directory / "__init__.py").write_text(
        f'"""Migrations of {target.package.rsplit(".", 1)[0]}, one V{{version}}__{{name}}.py module each."""\n'
    )
    importlib.invalidate_caches()
