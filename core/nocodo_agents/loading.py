"""Finding the migrations of a package: ``V{version}__{name}.py`` modules and refinery ``.sql`` files.

A package's entries are listed with :mod:`importlib.resources`, which also
reads packages installed from wheels or zip files. Modules are imported, and
``.sql`` files read, only when their SQL is first needed. Every entry whose
name looks like a migration but is not a valid one is an error naming it, so
a typo never silently drops a migration.

The pieces: the two kinds of file (:mod:`.migration_files`), the naming rule
(:mod:`.migration_names`) and the stamps that tell a change (:mod:`.file_stamps`).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import InvalidMigrationError
from .faults import PLUGIN_FAULTS, describe_fault
from .file_stamps import RACY_NS, DirectoryStamp, FileStamp, _stamp, directories_changed, file_stamp
from .migration import Migration, parse_module_name
from .migration_files import ModuleMigration, SqlFileMigration, _Entry
from .migration_names import _LOOKS_LIKE_MIGRATION, _misnamed

__all__ = [
    "DirectoryStamp",
    "FileStamp",
    "LoadedMigrations",
    "ModuleMigration",
    "RACY_NS",
    "SqlFileMigration",
    "directories_changed",
    "file_stamp",
    "load_migrations",
]



class LoadedMigrations(list[Migration]):
    """The list :func:`load_migrations` returns, also recording the directories it listed and the files.

    ``directories`` holds each directory of the file system listed, with its
    :data:`FileStamp` (times, size, inode) read *before* it was listed: adding,
    removing or renaming a file in it, or a symlink switched to another directory, changes it, so
    :func:`directories_changed` tells a registry to list the package again
    (an agent edited in an editable install, in a long-running process).
    ``files`` holds each migration file the same way, its stamp read before it
    is read or imported: a file edited in place changes it (even with its time put back), so the package is
    listed again, the ``.sql`` file read again and the module imported again
    (:func:`_import_current`). A directory or file modified within the last
    two seconds is recorded as changed already (its time could still move
    within one tick of the clock unseen), so it is listed again at the next
    run. Packages read from a zip file record neither.
    """

    directories: DirectoryStamp = ()
    files: DirectoryStamp = ()


def _listing(directory: Any, listed: list[tuple[str, int]]) -> Iterator[Any]:
    """``directory.iterdir()``, recording a file-system directory's modification time first."""
    if isinstance(directory, os.PathLike):
        path = os.fspath(directory)
        listed.append((path, _stamp(path)))
    return directory.iterdir()


def _package_directories(parent: ModuleType) -> list[Any]:
    """Where ``parent``'s entries are: what ``importlib.resources.files(parent)`` returns, as a list of roots.

    A regular package loaded from source files by the standard loader is its
    directory (``files()`` returns that very ``Path``): listed without importing
    :mod:`importlib.resources`, which costs a process several milliseconds
    (it imports :mod:`tempfile`, :mod:`shutil`, :mod:`zipfile`...). Any other
    loader (a zip, an editable install's finder) is asked through it.
    """
    spec = getattr(parent, "__spec__", None)
    locations = getattr(spec, "submodule_search_locations", None)
    loader = getattr(spec, "loader", None)
    if (
        type(loader) in (importlib.machinery.SourceFileLoader, importlib.machinery.SourcelessFileLoader)
        and isinstance(locations, list) and len(locations) == 1
        and os.path.dirname(loader.path) == locations[0]  # type: ignore[union-attr]
    ):
        return [Path(locations[0])]
    from importlib import resources

    try:
        return [resources.files(parent)]
    except (TypeError, ValueError, AttributeError):  # a namespace package on Python 3.9
        return [Path(directory) for directory in parent.__path__]


def _entries(package: str, parent: ModuleType, listed: list[tuple[str, int]]) -> Iterator[tuple[_Entry, str, bool]]:
    """Every entry of ``parent`` named like a migration: (entry, where it is, whether in a subdirectory).

    Subdirectories not named like migrations are searched too (refinery
    searches a migrations directory recursively), except ``__pycache__`` and
    hidden ones. Each file-system directory listed goes into ``listed``.
    """
    roots: list[Any] = _package_directories(parent)
    pending: list[tuple[Any, bool]] = [(root, False) for root in roots]
    try:
        while pending:
            directory, nested = pending.pop()
            for entry in _listing(directory, listed):
                name = entry.name
                if _LOOKS_LIKE_MIGRATION.match(name):
                    yield entry, str(entry), nested
                elif entry.is_dir() and name != "__pycache__" and not name.startswith("."):
                    pending.append((entry, True))
    except OSError as error:
        raise InvalidMigrationError(source=package, problem=f"the migrations package cannot be listed: {error}") from error


def load_migrations(package: str) -> LoadedMigrations:
    """Return the migrations defined in ``package``, in version order.

    ``package`` is a dotted import name (``"my_agent.migrations"``). Its
    ``V{version}__{name}.py`` modules and refinery-style
    ``V{version}__{name}.sql`` files are listed without being imported or
    read; each is imported or read when its SQL is first needed. ``.sql``
    files in subdirectories count too, as refinery finds them. An entry
    whose name starts like a migration (``V`` or ``v`` followed by a digit,
    ``_`` or ``-``, or ``U`` and a digit) but is not one of those, or is a
    directory, is an :class:`InvalidMigrationError` naming it, so a typo
    never silently drops a migration. The list also records the directories
    listed (:class:`LoadedMigrations`), so that a registry lists them again
    when a file is added, removed or renamed.
    """
    try:
        parent = importlib.import_module(package)
    except PLUGIN_FAULTS as error:
        raise InvalidMigrationError(
            source=package, problem=f"the migrations package could not be imported: importing it {describe_fault(error)}"
        ) from error
    if getattr(parent, "__path__", None) is None:
        raise InvalidMigrationError(
            source=package, problem="is a module, not a package: migrations live in a package's V{n}__{name}.py modules"
        )
    migrations = LoadedMigrations()
    listed: list[tuple[str, int]] = []
    files: list[tuple[str, int]] = []
    for entry, location, nested in _entries(package, parent, listed):
        file_name = entry.name
        problem = _misnamed(file_name, entry.is_dir())
        if problem is not None:
            raise InvalidMigrationError(source=location, problem=problem)
        stem, _, suffix = file_name.partition(".")
        parsed = parse_module_name(stem)
        if parsed is None:  # _misnamed checked it; never reached, but not an assert (python -O strips those)
            raise InvalidMigrationError(source=location, problem="the name must be V{version}__{name}")
        version, name = parsed
        if suffix == "py" and nested:
            raise InvalidMigrationError(
                source=location,
                problem=f"a migration module must be directly in the package {package} (.sql files may be in "
                f"subdirectories); move it up",
            )
        stamp = None
        if isinstance(entry, os.PathLike):
            try:
                stamp = _stamp(os.fspath(entry))
            except OSError as error:
                raise InvalidMigrationError(source=location, problem=f"the file cannot be read: {error}") from error
            files.append((os.fspath(entry), stamp))
        if suffix == "py":
            migrations.append(ModuleMigration(version, name, f"{package}.{stem}", location, stamp))
        else:
            migrations.append(SqlFileMigration(version, name, entry, location))
    migrations.sort(key=lambda m: (m.version, m.source))
    migrations.directories = tuple(listed)
    migrations.files = tuple(files)
    return migrations
