"""Creating the next ``V{version}__{name}.py`` migration module in an agent package."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Dict, Optional, Tuple

from .discovery import AgentRegistry
from .errors import MigrationError, ScaffoldError
from .loading import load_migrations
from .migration import MAX_VERSION, _NAME

TEMPLATE = '''"""V{version}: {name}."""


def migration(dialect: str) -> str:
    """The SQL applying this migration for ``dialect`` ("sqlite", "postgresql", "mysql")."""
    raise NotImplementedError("write the SQL of V{version}__{name} in {path}")


def rollback(dialect: str) -> str:
    """The SQL undoing this migration (used by `nocodo-agents rollback`); delete it if it cannot be undone."""
    raise NotImplementedError("write the rollback SQL of V{version}__{name} in {path}")
'''


def _migrations_package(package: str) -> Tuple[str, Path]:
    """The dotted name and directory of ``package``'s migrations (``package`` itself if it holds them)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError) as error:
        raise ScaffoldError(target=package, problem=f"cannot import it: {error}") from error
    if spec is None or not spec.submodule_search_locations:
        raise ScaffoldError(target=package, problem="is not an importable package (is it installed, or on PYTHONPATH?)")
    directory = Path(list(spec.submodule_search_locations)[0])
    if package.rsplit(".", 1)[-1] == "migrations" or any(directory.glob("V[0-9]*__*.py")) or any(directory.glob("V[0-9]*__*.sql")):
        return package, directory
    migrations = directory / "migrations"
    if not migrations.exists():
        migrations.mkdir()
        (migrations / "__init__.py").write_text(f'"""Migrations of {package}, one V{{version}}__{{name}}.py module each."""\n')
    importlib.invalidate_caches()
    return f"{package}.migrations", migrations


def _versions_in_use(registry: AgentRegistry) -> Dict[int, str]:
    used: Dict[int, str] = {}
    for agent in registry.agent_names():
        try:
            migration_set = registry.migration_set(agent)
        except MigrationError:
            continue  # a broken plugin cannot claim versions; `nocodo-agents agents` shows it
        for migration in migration_set.migrations:
            used[migration.version] = f"agent {migration_set.agent!r} ({migration_set.distribution})"
    return used


def scaffold_migration(
    package: str, name: str, *, version: Optional[int] = None, registry: Optional[AgentRegistry] = None
) -> Tuple[Path, int]:
    """Write ``V{version}__{name}.py`` into ``package``'s migrations and return its path and version.

    Without ``version`` the next one after the package's highest (or, for a
    package without migrations, after the highest installed) is used. A version
    that any installed agent already uses is refused.
    """
    if not _NAME.match(name):
        raise ScaffoldError(target=f"V?__{name}", problem="the name must be made of letters, digits and underscores")
    registry = registry if registry is not None else AgentRegistry.installed()
    dotted, directory = _migrations_package(package)
    own = {m.version for m in load_migrations(dotted)}
    used = _versions_in_use(registry)
    free = max([*used, *own], default=0) + 1
    if version is None:
        version = max(own) + 1 if own else free
        if version in used and version not in own:
            raise ScaffoldError(
                target=f"{dotted}.V{version}__{name}",
                problem=f"the next version, {version}, is already used by {used[version]}; pass --version {free}",
            )
    elif version in used or version in own:
        owner = used.get(version, f"package {dotted}")
        raise ScaffoldError(
            target=f"{dotted}.V{version}__{name}",
            problem=f"version {version} is already used by {owner}; the next free one is {free}"
        )
    if version > MAX_VERSION:
        raise ScaffoldError(target=f"{dotted}.V{version}__{name}", problem=f"version {version} is above {MAX_VERSION}")
    path = directory / f"V{version}__{name}.py"
    if path.exists():
        raise ScaffoldError(target=str(path), problem="the file already exists")
    path.write_text(TEMPLATE.format(version=version, name=name, path=path.name))
    return path, version
