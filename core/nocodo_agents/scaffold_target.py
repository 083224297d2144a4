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
import re
import site
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from .agent_entries import AgentEntry, normalize_agent_name
from .discovery import AgentRegistry
from .errors import InvalidMigrationError, MigrationError, PluginLoadError, ScaffoldError
from .faults import PLUGIN_FAULTS, describe_fault

#: The directory names installers put distributions in (Debian's Python uses dist-packages).
_INSTALL_DIRECTORY_NAMES = ("site-packages", "dist-packages")


class MigrationsTarget(NamedTuple):
    """A migrations package ``new`` writes into: its dotted name and directory (which may not exist yet)."""

    package: str
    directory: Path


def installed_root(directory: Path) -> Path | None:
    """The site-packages (or dist-packages) directory ``directory`` lies in, or ``None`` for a source tree.

    Checked against this interpreter's ``purelib``/``platlib`` paths and
    :mod:`site`'s package directories, and by name for any other
    environment's. An editable install (``pip install -e``) points into the
    author's source tree, so it is ``None``.
    """
    resolved = directory.resolve()
    roots: list[str] = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
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


def _plugin_package(entry: AgentEntry) -> str:
    """The package holding ``entry``'s plugin module (the module itself when it is top-level)."""
    module = entry.target.split(":", 1)[0]
    return module.rsplit(".", 1)[0] if "." in module else module


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the errors it was raised from, innermost last."""
    seen: list[int] = []
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.append(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _missing_migrations_package(error: MigrationError) -> str | None:
    """The migrations package the agent's hook asked ``load_migrations`` for that does not exist yet, if that is why listing failed."""
    for cause in _causes(error):
        if isinstance(cause, InvalidMigrationError):
            missing = cause.__cause__
            if isinstance(missing, ModuleNotFoundError) and missing.name == cause.source:
                return cause.source
    return None


def _broken_migration_file(error: MigrationError) -> InvalidMigrationError | None:
    """The malformed migration file (or package) that made listing fail, if that is why."""
    for cause in _causes(error):
        if isinstance(cause, InvalidMigrationError):
            return cause
    return None


def _plugin_failure(error: MigrationError) -> str:
    """What went wrong loading an agent, without the advice meant for running it (reinstalling, `agents=`)."""
    return error.cause if isinstance(error, PluginLoadError) else str(error)


def _agent_package(registry: AgentRegistry, agent: str) -> str:
    """The dotted name of ``agent``'s migrations package, or of the package a ``migrations`` subpackage goes in.

    Its migration modules' package when it lists some; else the package its
    hook asked ``load_migrations`` for when that package does not exist yet
    (a fresh agent); else its plugin module's package (from the entry point,
    without importing the plugin), whose ``migrations`` subpackage
    :func:`migrations_target` picks.
    """
    entry = registry.entry(agent)
    try:
        migration_set = registry.migration_set(agent)
    except MigrationError as error:
        missing = _missing_migrations_package(error)
        if missing is not None:
            return missing
        broken = _broken_migration_file(error)
        if broken is not None:
            raise ScaffoldError(
                target=f"a migration of agent {entry.name!r} ({entry.distribution})",
                problem=f"its migrations cannot be listed: {broken.source}: {broken.problem}. Fix that, then run new again",
            ) from error
        return _plugin_package(entry)  # the plugin itself fails (a missing dependency...): its migrations go next to it
    for migration in migration_set.migrations:
        module_name = getattr(migration, "module_name", None)
        if module_name:
            return str(module_name).rsplit(".", 1)[0]
    return _plugin_package(entry)


def _package_directory(package: str) -> Path | None:
    """The directory of the importable package ``package``, ``None`` if there is no such package (or it is a module)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ModuleNotFoundError, ValueError):
        return None  # a parent package is missing, or not an import name at all (a..b)
    except PLUGIN_FAULTS as error:
        raise ScaffoldError(target=package, problem=f"importing it {describe_fault(error)}") from error
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _is_module(name: str) -> bool:
    """Whether ``name`` is an importable module that is not a package."""
    try:
        spec = importlib.util.find_spec(name)
    except PLUGIN_FAULTS:
        return False
    return spec is not None and not spec.submodule_search_locations


def _distribution_key(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): ``Acme_Tasks`` and ``acme-tasks`` alike."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _agents_of_distribution(registry: AgentRegistry, name: str) -> tuple[str, list[str]]:
    """The installed distribution ``name`` stands for and the agents it provides (``("", [])`` if none)."""
    key = _distribution_key(name)
    found = ""
    agents: list[str] = []
    for agent in registry.agent_names():
        try:
            entry = registry.entry(agent)
        except MigrationError:
            continue  # registered twice: named by its own error when asked for
        if _distribution_key(entry.distribution) == key:
            found = entry.distribution
            agents.append(agent)
    return found, agents


def _agent_target(registry: AgentRegistry, agent: str) -> MigrationsTarget:
    """Where ``agent``'s migrations go, even before its ``migrations`` package exists."""
    entry = registry.entry(agent)
    package = _agent_package(registry, agent)
    directory = _package_directory(package)
    if directory is None and "." in package:
        parent, _, last = package.rpartition(".")
        parent_directory = _package_directory(parent)
        if parent_directory is not None:
            return MigrationsTarget(package, parent_directory / last)  # created by create_package
    if directory is None:
        where = (
            f"its plugin module {package} (entry point {entry.target}) is a single module, not in a package"
            if _is_module(package)
            else f"its package {package} cannot be found (is {entry.distribution} installed in this environment?)"
        )
        raise ScaffoldError(
            target=f"a migration of agent {entry.name!r} ({entry.distribution})",
            problem=(
                f"{where}, so new cannot tell where its migrations go. Create a package for them (a directory with an "
                f"__init__.py, such as {package}_migrations/), make the agent's hook return "
                f"load_migrations('<that package>'), and run new again with the package's import name"
            ),
        )
    return _target_in(package, directory)


def _target_in(package: str, directory: Path) -> MigrationsTarget:
    """``package`` itself when it holds migrations (or is named ``migrations``), else its ``migrations`` subpackage."""
    if package.rsplit(".", 1)[-1] == "migrations" or any(directory.glob("V[0-9]*__*.py")) or any(directory.glob("V[0-9]*__*.sql")):
        return MigrationsTarget(package, directory)
    return MigrationsTarget(f"{package}.migrations", directory / "migrations")


def migrations_target(registry: AgentRegistry, agent_or_package: str) -> MigrationsTarget:
    """The migrations package ``agent_or_package`` stands for: an installed agent's (any spelling), an import name's, or a distribution's.

    An agent's is found from its entry point even when its migrations
    package does not exist yet. An importable package holding ``V{n}__*``
    files, or named ``migrations``, is itself the target; any other
    package's ``migrations`` subpackage is (created by :func:`create_package`
    if missing). The name of an installed distribution providing exactly
    one agent stands for that agent. Anything else: :class:`ScaffoldError`
    naming the distribution's agents, or listing the installed agents.
    """
    names = registry.agent_names()
    if normalize_agent_name(agent_or_package) in {normalize_agent_name(name) for name in names}:
        return _agent_target(registry, agent_or_package)
    directory = _package_directory(agent_or_package)
    if directory is not None:
        return _target_in(agent_or_package, directory)
    distribution, agents = _agents_of_distribution(registry, agent_or_package)
    if len(agents) == 1:
        return _agent_target(registry, agents[0])
    if agents:
        raise ScaffoldError(
            target=f"a migration of distribution {distribution}",
            problem=(
                f"{agent_or_package!r} is the distribution {distribution}, which provides the agents "
                f"{', '.join(agents)}: name the agent the migration belongs to (nocodo-agents new {agents[0]} ...)"
            ),
        )
    if _is_module(agent_or_package):
        problem = (
            f"it is a module, not a package: migrations go in a package. Pass the agent's name (installed: "
            f"{', '.join(names)}) or the import name of its package"
        )
    else:
        problem = (
            f"it is neither an installed agent (installed: {', '.join(names)}; a dashed name such as "
            f"requirements-qna works too), nor a distribution providing agents, nor an importable package (is it "
            f"installed, or on PYTHONPATH?)"
        )
    raise ScaffoldError(target=agent_or_package, problem=problem)


def create_package(target: MigrationsTarget) -> None:
    """Create ``target``'s directory as a package if it does not exist yet."""
    if target.directory.exists():
        return
    target.directory.mkdir()
    (target.directory / "__init__.py").write_text(
        f'"""Migrations of {target.package.rsplit(".", 1)[0]}, one V{{version}}__{{name}}.py module each."""\n'
    )
    importlib.invalidate_caches()
