"""Finding the migrations of a package: ``V{version}__{name}.py`` modules and refinery ``.sql`` files.

A package's entries are listed with :mod:`importlib.resources`, which also
reads packages installed from wheels or zip files. Modules are imported, and
``.sql`` files read, only when their SQL is first needed. Every entry whose
name looks like a migration but is not a valid one is an error naming it, so
a typo never silently drops a migration.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import re
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, Optional, Protocol, Tuple

from .errors import InvalidMigrationError
from .faults import PLUGIN_FAULTS, describe_fault
from .migration import Migration, check_transactional, parse_module_name

#: What an entry named like a migration starts with: ``V`` (either case) and a digit, ``_`` or
#: ``-``, or refinery's unversioned ``U`` and a digit. Such an entry must be a valid migration.
#: ``\d`` on purpose: any Unicode digit here, so that ``V١__x.py`` is caught, not skipped.
_LOOKS_LIKE_MIGRATION = re.compile(r"[Vv][\d_-]|[Uu]\d")
#: The extensions of the two kinds of migration file.
_KINDS = ("py", "sql")
#: A misspelt name that can be corrected: prefix, version, separator and name, loosely.
_FIXABLE = re.compile(r"[VvUu][-_]*([0-9]+)[-_]+([A-Za-z0-9_]+)")
#: A name that lacks only its version.
_VERSIONLESS = re.compile(r"[Vv][-_]+([A-Za-z0-9_]+)")
_RULE = (
    "migrations are named V{version}__{name}.py or V{version}__{name}.sql (a capital V, the version in "
    "ASCII digits 0-9, two underscores, a name of ASCII letters, digits and underscores)"
)
_NOT_A_MIGRATION = (
    "; if it is not a migration, give it a name that does not start with V or v followed by a digit, "
    "_ or -"
)


class _Entry(Protocol):
    """What :mod:`importlib.resources` lists: a file or directory of a package."""

    name: str

    def is_dir(self) -> bool: ...

    def read_bytes(self) -> bytes: ...


#: Each migration module this process imported through :class:`ModuleMigration`, with its file's
#: stamp (:func:`_stamp`) when it was listed before that import.
_IMPORTED: Dict[str, "FileStamp"] = {}


def _import_current(module_name: str, stamp: Optional["FileStamp"]) -> ModuleType:
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
        self, version: int, name: str, module_name: str, source: str, stamp: Optional["FileStamp"] = None
    ) -> None:
        super().__init__(version, name, "", source=source)
        self.module_name = module_name
        self._module: Optional[ModuleType] = None
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


#: What ``stat`` says of a file or directory that any change of its content or listing moves: the
#: modification and change times (ns), the size and the inode. The modification time alone misses an
#: edit whose time was put back (``cp -p``, ``rsync -a``, ``tar -x`` of an archive built with one fixed
#: ``SOURCE_DATE_EPOCH``) and a directory switched for another by a symlink (another release, same times):
#: the change time cannot be set back, and a file or directory put in another's place has another inode.
FileStamp = Tuple[int, int, int, int]
DirectoryStamp = Tuple[Tuple[str, FileStamp], ...]


def file_stamp(status: os.stat_result) -> FileStamp:
    """The :data:`FileStamp` of a ``stat`` result."""
    return (status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino)


class LoadedMigrations(List[Migration]):
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


def directories_changed(directories: DirectoryStamp) -> bool:
    """Whether any of ``directories`` was modified (or removed, or replaced) since its :data:`FileStamp` was read."""
    stat = os.stat
    try:
        for path, stamp in directories:
            if file_stamp(stat(path)) != stamp:
                return True
    except OSError:
        return True
    return False


#: A directory modified less than this long ago (ns) could change again within the same tick of the
#: file system's clock without its modification time moving (Linux stamps files with a coarse clock,
#: some file systems keep seconds): it is recorded as already changed, so it is listed again next time.
#: The same rule keeps the installed agents' registry (:func:`~nocodo_agents.agent_entries.sys_path_stamp`).
RACY_NS = 2_000_000_000
#: The modification time recorded for such a directory; no real one equals it.
_UNSETTLED: FileStamp = (-1, -1, -1, -1)


def _stamp(path: str) -> FileStamp:
    """``path``'s :data:`FileStamp`, or :data:`_UNSETTLED` if modified too recently to rely on it."""
    status = os.stat(path)
    return file_stamp(status) if time.time_ns() - status.st_mtime_ns >= RACY_NS else _UNSETTLED


def _listing(directory: Any, listed: List[Tuple[str, int]]) -> Iterator[Any]:
    """``directory.iterdir()``, recording a file-system directory's modification time first."""
    if isinstance(directory, os.PathLike):
        path = os.fspath(directory)
        listed.append((path, _stamp(path)))
    return directory.iterdir()


def _package_directories(parent: ModuleType) -> List[Any]:
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


def _entries(package: str, parent: ModuleType, listed: List[Tuple[str, int]]) -> Iterator[Tuple[_Entry, str, bool]]:
    """Every entry of ``parent`` named like a migration: (entry, where it is, whether in a subdirectory).

    Subdirectories not named like migrations are searched too (refinery
    searches a migrations directory recursively), except ``__pycache__`` and
    hidden ones. Each file-system directory listed goes into ``listed``.
    """
    roots: List[Any] = _package_directories(parent)
    pending: List[Tuple[Any, bool]] = [(root, False) for root in roots]
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


def _misnamed(file_name: str, is_dir: bool) -> Optional[str]:
    """Why an entry named like a migration is not a valid one (``None`` if it is one)."""
    stem, _, suffix = file_name.partition(".")
    parsed = parse_module_name(stem)
    kind = suffix.lower() if suffix.lower() in _KINDS else "py"
    fixable = _FIXABLE.fullmatch(stem)
    fixed = f"V{int(fixable.group(1))}__{fixable.group(2).strip('_')}" if fixable else None
    if fixed is not None and parse_module_name(fixed) is None:
        fixed = None
    if is_dir:
        return (
            f"a directory named like a migration, but a migration is one V{{version}}__{{name}}.py module "
            f"or .sql file, not a package; move its code into {stem if parsed else fixed or 'V{version}__{name}'}.py"
        )
    if stem[:1] in "Uu" and fixed is not None:
        return (
            f"refinery's unversioned (U) migrations are not supported; rename it to {fixed}.{kind} "
            f"(it is then applied once, in version order)"
        )
    if parsed is None:
        versionless = _VERSIONLESS.fullmatch(stem)
        if fixed is not None:
            hint = f"rename it to {fixed}.{kind}"
        elif versionless is not None and parse_module_name(f"V1__{versionless.group(1)}") is not None:
            hint = f"give it its version: V{{version}}__{versionless.group(1)}.{kind}"
        else:
            hint = "rename it"
        return f"not a valid migration name: {_RULE}; {hint}{_NOT_A_MIGRATION}"
    if suffix == "rs":
        return f"a refinery Rust migration module cannot run here; port its SQL to {stem}.py or {stem}.sql"
    if suffix not in _KINDS:
        target = f"rename it to {stem}.{suffix.lower()}" if suffix.lower() in _KINDS else "rename it"
        return (
            f"named like a migration, but neither a .py module nor a .sql file; {target}, or delete it "
            f"if it is a backup or a compiled file"
        )
    return None


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
    listed: List[Tuple[str, int]] = []
    files: List[Tuple[str, int]] = []
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
