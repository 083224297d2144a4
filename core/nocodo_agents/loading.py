"""Finding ``V{version}__{name}`` modules in a package and turning them into migrations.

Modules are listed with :mod:`pkgutil`, which also reads packages installed
from wheels or zip files, and imported only when their SQL is first needed.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
from types import ModuleType
from typing import List, Optional

from .errors import InvalidMigrationError
from .migration import Migration, parse_module_name

_LOOKS_LIKE_MIGRATION = re.compile(r"^V\d")


class ModuleMigration(Migration):
    """A migration defined by a module ``V{version}__{name}``, imported on first use.

    The module exports ``migration()`` (optionally taking the dialect name) and
    may export ``rollback()`` (same rule) and ``transactional = False``.
    """

    __slots__ = ("module_name", "_module")

    def __init__(self, version: int, name: str, module_name: str, source: str) -> None:
        super().__init__(version, name, "", source=source)
        self.module_name = module_name
        self._module: Optional[ModuleType] = None

    def _resolve(self) -> None:
        if self._module is not None:
            return
        try:
            module = importlib.import_module(self.module_name)
        except Exception as error:
            raise InvalidMigrationError(
                self.source, f"importing {self.module_name} failed: {type(error).__name__}: {error}"
            ) from error
        function = getattr(module, "migration", None)
        if not callable(function):
            raise InvalidMigrationError(
                self.source,
                "the module defines no migration() function; define "
                "`def migration(dialect): return \"...SQL...\"`",
            )
        rollback = getattr(module, "rollback", None)
        if rollback is not None and not callable(rollback):
            raise InvalidMigrationError(self.source, "rollback must be a function returning SQL")
        self._sql = function
        self._rollback = rollback
        self._transactional = bool(getattr(module, "transactional", True))
        self._module = module


def _module_file(finder: object, module_name: str) -> Optional[str]:
    directory = getattr(finder, "path", None)
    if isinstance(directory, str):  # a FileFinder: a directory on disk
        return os.path.join(directory, module_name + ".py")
    archive = getattr(finder, "archive", None)
    if isinstance(archive, str):  # a zipimporter
        return os.path.join(archive, getattr(finder, "prefix", ""), module_name + ".py")
    return None


def load_migrations(package: str) -> List[Migration]:
    """Return the migrations defined by the ``V{version}__{name}`` modules of ``package``.

    ``package`` is a dotted import name (``"my_agent.migrations"``). Modules are
    listed without being imported; each is imported when its SQL is first
    needed. A module whose name starts like a migration (``V`` and a digit)
    but does not match ``V{version}__{name}`` with ``name`` in ``[A-Za-z0-9_]+``
    is an error, so a typo never silently drops a migration.
    """
    try:
        parent = importlib.import_module(package)
    except Exception as error:
        raise InvalidMigrationError(
            package, f"the migrations package could not be imported: {type(error).__name__}: {error}"
        ) from error
    search_path = getattr(parent, "__path__", None)
    if search_path is None:
        raise InvalidMigrationError(
            package, "is a module, not a package: migrations live in a package's V{n}__{name}.py modules"
        )
    migrations: List[Migration] = []
    for info in pkgutil.iter_modules(search_path):
        if info.ispkg or not _LOOKS_LIKE_MIGRATION.match(info.name):
            continue
        source = _module_file(info.module_finder, info.name) or f"{package}.{info.name}"
        parsed = parse_module_name(info.name)
        if parsed is None:
            raise InvalidMigrationError(
                source,
                "the module name must be V{version}__{name} (two underscores; name made of "
                "letters, digits and underscores); rename it",
            )
        version, name = parsed
        migrations.append(ModuleMigration(version, name, f"{package}.{info.name}", source))
    migrations.sort(key=lambda m: m.version)
    return migrations
