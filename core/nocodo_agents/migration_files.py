"""The two kinds of migration file: a ``V{version}__{name}.py`` module, imported on first use, and a refinery ``.sql`` file, read on first use.

A module imported earlier from a file since edited is imported again
(:func:`_import_current`), so a long-running process never runs a stale copy.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Protocol

from .errors import InvalidMigrationError
from .faults import PLUGIN_FAULTS, describe_fault
from .file_stamps import _UNSETTLED, FileStamp
from .migration import Migration, check_transactional

__all__ = ["ModuleMigration", "SqlFileMigration"]


class _Entry(Protocol):
    """What :mod:`importlib.resources` lists: a file or directory of a package."""

    name: str

    def is_dir(self) -> bool: ...

    def read_bytes(self) -> bytes: ...


#: Each migration module this process imported through :class:`ModuleMigration`, with its file's
#: stamp (:func:`_stamp`) when it was listed before that import.
_IMPORTED: dict[str, FileStamp] = {}


def _import_current(module_name: str, stamp: FileStamp | None) -> ModuleType:
    """``module_name`` as its file now is: imported, or imported again if its file changed since.

    A module already in ``sys.modules`` is executed again (``importlib.reload``,
    its cached bytecode removed first, as an edit within the same second and of
    the same size would pass the bytecode's check) when ``stamp`` (its file's,
    read when it was listed, before this import) differs from the one recorded
    at its last import here, when its file was modified too recently to tell
    (:data:`_UNSETTLED`), or when something else imported it. A module
    without a file (``stamp`` ``None``: a zip) is imported once.
    """
    module = sys.modules.get(module_name)
    if module is None or stamp is None:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            # The import system lists a directory once per modification time: a directory switched for
            # another with the same time (a symlink to the next release) still shows the old listing.
            importlib.invalidate_caches()
            module = importlib.import_module(module_name)
    elif stamp == _UNSETTLED or _IMPORTED.get(module_name) != stamp:
        cached = getattr(module, "__cached__", None)
        if cached:
            try:
                os.remove(cached)
            except OSError:
                pass  # none, or not ours to remove (a read-only install cannot have been edited in place either)
        module = importlib.reload(module)
    if stamp is not None:
        _IMPORTED[module_name] = stamp
    return module


class ModuleMigration(Migration):
    """A migration defined by a module ``V{version}__{name}``, imported on first use.

    The module exports ``migration()`` (optionally taking the dialect name) and
    may export ``rollback()`` (same rule) and ``transactional = False``.
    ``stamp`` is its file's :data:`FileStamp` when it was listed (``None``
    without a file): a module imported earlier from a file since edited is
    imported again (:func:`_import_current`).
    """

    __slots__ = ("module_name", "_module", "_stamp")

    def __init__(
        self, version: int, name: str, module_name: str, source: str, stamp: FileStamp | None = None
    ) -> None:
        super().__init__(version, name, "", source=source)
        self.module_name = module_name
        self._module: ModuleType | None = None
        self._stamp = stamp

    def _resolve(self) -> None:
        if self._module is not None:
            return
        try:
            module = _import_current(self.module_name, self._stamp)
            function = getattr(module, "migration", None)
            rollback = getattr(module, "rollback", None)
            transactional = getattr(module, "transactional", True)
        except PLUGIN_FAULTS as error:
            raise InvalidMigrationError(
                source=self.source,
                problem=f"importing {self.module_name} {describe_fault(error)}",
            ) from error
        if function is None:
            raise InvalidMigrationError(
                source=self.source,
                problem="the module defines no migration() function; define "
                "`def migration(dialect): return \"...SQL...\"`",
            )
        if not callable(function):
            raise InvalidMigrationError(
                source=self.source,
                problem=f"migration is a {type(function).__name__}, not a function; define "
                f"`def migration(dialect): return \"...SQL...\"`",
            )
        if rollback is not None and not callable(rollback):
            raise InvalidMigrationError(
                source=self.source,
                problem=f"rollback is a {type(rollback).__name__}, not a function; define "
                f"`def rollback(dialect): return \"...SQL...\"` or remove it",
            )
        check_transactional(transactional, self.source)
        self._sql = function
        self._rollback = rollback
        self._transactional = transactional
        self._module = module


class SqlFileMigration(Migration):
    """A refinery migration file ``V{version}__{name}.sql``, read on first use.

    Its text, exactly as stored (UTF-8, line endings untouched, as refinery's
    ``include_str!`` reads it), is the migration's SQL for every dialect, so
    its checksum is the one refinery records for the same file. It runs in a
    transaction and has no rollback (refinery has neither a marker to run a
    file outside a transaction nor down migrations).
    """

    __slots__ = ("_file", "_loaded")

    def __init__(self, version: int, name: str, file: _Entry, source: str) -> None:
        super().__init__(version, name, "", source=source)
        self._file = file
        self._loaded = False

    def _resolve(self) -> None:
        if self._loaded:
            return
        try:
            data = self._file.read_bytes()
        except OSError as error:
            raise InvalidMigrationError(source=self.source, problem=f"the file cannot be read: {error}") from error
        try:
            self._sql = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidMigrationError(
                source=self.source, problem=f"the file is not UTF-8 text ({error}); save it as UTF-8, as refinery requires"
            ) from None
        self._loaded = True
