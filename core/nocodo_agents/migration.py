"""The :class:`Migration` value: one numbered schema change and how to get its SQL.

A migration's SQL is produced only when the runner asks for it, for one
dialect at a time (``"sqlite"``, ``"postgresql"``, ``"mysql"``), and then kept.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Callable, Union

from .checksum import checksum, checksums
from .errors import InvalidArgumentError, InvalidMigrationError
from .faults import PLUGIN_FAULTS, describe_fault

#: Highest version: refinery's ``i64`` (its ``int8-versions`` feature, a 64-bit history column).
MAX_VERSION = 2**63 - 1
#: Highest version refinery's default ``i32`` history column (``INT4``) holds; a run recording a
#: higher one widens the history to 64-bit first.
MAX_INT4_VERSION = 2**31 - 1

#: What a migration module's name looks like: ``V{version}__{name}``. Versions are ASCII
#: digits (``\d`` would take any Unicode digit) and ``\Z`` ends the name (``$`` would let a
#: trailing newline through), so ``match`` and ``fullmatch`` agree.
MODULE_NAME = re.compile(r"^V([0-9]+)__([A-Za-z0-9_]+)\Z")
_NAME = re.compile(r"^[A-Za-z0-9_]+\Z")

#: The dialects the library runs migrations on, as it names them to ``migration(dialect)`` and :func:`dialect_sql`.
DIALECT_NAMES: tuple[str, ...] = ("sqlite", "postgresql", "mysql")
#: What an author may write for a dialect's name, and the name meant.
_DIALECT_SPELLINGS = {
    "postgres": "postgresql", "postgre": "postgresql", "pg": "postgresql", "psql": "postgresql", "mariadb": "mysql", "sqlite3": "sqlite",
}

#: A migration's SQL: a string, or a callable taking no argument or the dialect name.
SqlSource = Union[str, Callable[..., str]]


def parse_module_name(module_name: str) -> tuple[int, str] | None:
    """Return ``(version, name)`` for ``V{version}__{name}``, or ``None`` if it is not one.

    Leading zeros are allowed, as refinery allows them (``V001__x`` is version
    1); a version beyond :data:`MAX_VERSION` is returned as it is, for
    :class:`Migration` to reject naming the file.
    """
    match = MODULE_NAME.match(module_name)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


def check_transactional(value: object, source: str) -> None:
    """Refuse a ``transactional`` flag that is not a ``bool`` (``"False"`` would be truthy)."""
    if not isinstance(value, bool):
        raise InvalidMigrationError(
            source=source, problem=f"transactional must be True or False, not {value!r} ({type(value).__name__})"
        )


class UnsupportedDialect(Exception):
    """Raised by :func:`dialect_sql` functions for a dialect they have no SQL for."""


def unknown_dialect(name: object, argument: str, *, misspelt_only: bool = False) -> InvalidArgumentError | None:
    """The error for ``name`` given as ``argument`` unless it is one of :data:`DIALECT_NAMES` (the name meant suggested).

    ``misspelt_only``: only for another spelling of one of them (``postgres``,
    ``MySQL``, ``mariadb``); a name unlike any is let through.
    """
    if name in DIALECT_NAMES:
        return None
    meant = _DIALECT_SPELLINGS.get(str(name).lower(), str(name).lower())
    if meant not in DIALECT_NAMES:
        from difflib import get_close_matches  # a typo (mysqll=, postgresq=); not mssql=, a dialect of its own

        meant = next(iter(get_close_matches(meant, DIALECT_NAMES, n=1, cutoff=0.85)), meant)
    if misspelt_only and meant not in DIALECT_NAMES:
        return None
    hint = f" ({meant!r}?)" if meant in DIALECT_NAMES else ""
    return InvalidArgumentError(argument=argument, value=name, expected=f"a dialect name: {', '.join(DIALECT_NAMES)}{hint}")


def dialect_sql(**sql_by_dialect: str) -> Callable[[str], str]:
    """A ``migration()``/``rollback()`` function returning the SQL given for each dialect.

    ::

        migration = dialect_sql(sqlite="CREATE TABLE ...", postgresql="CREATE TABLE ...")

    The keywords are dialect names (:data:`DIALECT_NAMES`): another spelling
    of one (``postgres=``, ``mariadb=``, ``MySQL=``) raises
    :class:`~nocodo_agents.InvalidArgumentError` at once, since no run would
    ever ask for it (a name unlike any, for a dialect a later version may
    run, is kept). Asked for a dialect it has no SQL for, the function raises
    an error naming the dialects it supports (the runner reports it with the
    migration's file).
    """
    for name in sql_by_dialect:
        error = unknown_dialect(name, "a keyword of dialect_sql()", misspelt_only=True)
        if error is not None:
            raise error
    supported = ", ".join(sorted(sql_by_dialect))

    def sql(dialect: str) -> str:
        try:
            return sql_by_dialect[dialect]
        except KeyError:
            raise UnsupportedDialect(f"no SQL for {dialect} (this migration supports: {supported})") from None

    return sql


def _check_text(text: str, kind: str, dialect: str, source: str) -> None:
    """Refuse SQL holding a lone surrogate (``"\\ud800"``, or a byte of a non-UTF-8 file read with ``surrogateescape``).

    No driver can send it (it is not text), and refinery's checksum hashes
    the SQL's UTF-8 bytes, so it would crash every run, even the no-op path.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidMigrationError(
            source=source,
            problem=f"{kind}() returned SQL holding {text[error.start]!r} at offset {error.start} (dialect {dialect!r}), a "
            f"lone surrogate that is not text and cannot be sent to the database as UTF-8: write the character "
            f"it was meant to be (read SQL files as UTF-8, not with errors='surrogateescape')",
        ) from None


def _takes_dialect(function: Callable[..., str]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: assume no argument
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return bool(positional)


class Migration:
    """One versioned migration of an agent's schema.

    ``sql`` is the migration's SQL text, or a callable returning it: a callable
    with one positional parameter receives the dialect name (``"sqlite"``,
    ``"postgresql"``, ``"mysql"``), one without parameters is dialect-neutral.
    ``rollback`` follows the same rule and undoes the migration (optional; a
    rollback whose SQL is empty is a deliberate no-op, whereas a migration's
    SQL must hold a statement). ``transactional=False`` (a ``bool``) declares
    statements that cannot run inside a transaction (``VACUUM``,
    ``CREATE INDEX CONCURRENTLY``).
    ``source`` says where the migration came from, for error messages.

    Migrations compare equal on version, name and source; SQL is produced
    lazily by :meth:`sql` and cached per dialect.
    """

    __slots__ = ("version", "name", "source", "_transactional", "_sql", "_rollback", "_cache", "_checksums")

    def __init__(
        self,
        version: int,
        name: str,
        sql: SqlSource,
        *,
        rollback: SqlSource | None = None,
        transactional: bool = True,
        source: str | None = None,
    ) -> None:
        self.source = source or f"V{version}__{name}"
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidMigrationError(source=self.source, problem=f"version must be an int, not {version!r}")
        if not 0 <= version <= MAX_VERSION:
            raise InvalidMigrationError(
                source=self.source,
                problem=f"version {version} is outside 0..{MAX_VERSION} (refinery stores versions as a "
                f"64-bit integer at most); renumber the migration",
            )
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidMigrationError(
                source=self.source, problem=f"name {name!r} must match [A-Za-z0-9_]+ (ASCII letters, digits, underscores)"
            )
        if not (isinstance(sql, str) or callable(sql)):
            raise InvalidMigrationError(
                source=self.source, problem=f"sql must be a str or a callable returning one, not {type(sql).__name__}"
            )
        if not (rollback is None or isinstance(rollback, str) or callable(rollback)):
            raise InvalidMigrationError(
                source=self.source, problem=f"rollback must be a str or a callable returning one, not {type(rollback).__name__}"
            )
        check_transactional(transactional, self.source)
        self.version = version
        self.name = name
        self._transactional = transactional
        self._sql = sql
        self._rollback = rollback
        self._cache: dict[tuple[str, str], str] = {}
        self._checksums: dict[tuple[str, bool], int] = {}

    def _resolve(self) -> None:
        """Make ``_sql``, ``_rollback`` and ``_transactional`` final (lazy subclasses load here)."""

    @property
    def transactional(self) -> bool:
        """Whether the migration runs inside a transaction together with its history row."""
        self._resolve()
        return self._transactional

    @property
    def has_rollback(self) -> bool:
        """Whether this migration can be undone."""
        self._resolve()
        return self._rollback is not None

    def sql(self, dialect: str) -> str:
        """Return this migration's SQL for ``dialect``, producing it on first use."""
        self._resolve()
        return self._produce("migration", self._sql, dialect)

    def rollback_sql(self, dialect: str) -> str | None:
        """Return the SQL undoing this migration for ``dialect``, or ``None`` if it has none."""
        self._resolve()
        if self._rollback is None:
            return None
        return self._produce("rollback", self._rollback, dialect)

    def checksum(self, dialect: str, int8_versions: bool = False) -> int:
        """refinery's checksum of this migration's SQL for ``dialect`` (computed once per encoding).

        ``int8_versions``: the version hashed as an ``i64``, as in a 64-bit
        history (see :func:`~nocodo_agents.checksum.checksum`).
        """
        key = (dialect, int8_versions)
        cached = self._checksums.get(key)
        if cached is None:
            cached = self._checksums[key] = checksum(self.name, self.version, self.sql(dialect), int8_versions)
        return cached

    def _produce(self, kind: str, source: SqlSource, dialect: str) -> str:
        key = (kind, dialect)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if isinstance(source, str):
            text = source
        else:
            try:
                text = source(dialect) if _takes_dialect(source) else source()
            except InvalidMigrationError:
                raise
            except PLUGIN_FAULTS as error:
                raise InvalidMigrationError(
                    source=self.source, problem=f"{kind}() {describe_fault(error)} (dialect {dialect!r})"
                ) from error
        if not isinstance(text, str):
            raise InvalidMigrationError(
                source=self.source,
                problem=f"{kind}() must return the SQL as a str, got {type(text).__name__} "
                f"(dialect {dialect!r})",
            )
        _check_text(text, kind, dialect, self.source)
        self._cache[key] = text
        return text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Migration):
            return NotImplemented
        return (self.version, self.name, self.source) == (other.version, other.name, other.source)

    def __hash__(self) -> int:
        return hash((self.version, self.name, self.source))

    def __repr__(self) -> str:
        return f"Migration(version={self.version}, name={self.name!r}, source={self.source!r})"


def prime_checksums(migrations: Iterable[Migration], dialect: str, int8_versions: bool = False) -> None:
    """Hash side by side (:func:`~nocodo_agents.checksum.checksums`) the checksums of ``migrations`` not yet known for ``dialect``.

    Only a speed-up for a caller about to ask many: the :meth:`Migration.checksum`
    calls that follow find them. Only a migration whose SQL was already
    produced for ``dialect`` is hashed here: producing it may import a module
    or call the author's function, which must run once, in its place (one
    that fails would run again at its own call). A migration whose version
    does not fit the encoding is left to its own call, which raises its error
    where it always did.
    """
    key = (dialect, int8_versions)
    produced = ("migration", dialect)
    unknown: list[Migration] = []
    hashed: list[tuple[str, int, str, bool]] = []
    for migration in migrations:
        if key in migration._checksums:
            continue
        sql = migration._cache.get(produced)
        if sql is None:
            continue  # not produced yet: its own checksum() call produces it (and raises its error) in its place
        unknown.append(migration)
        hashed.append((migration.name, migration.version, sql, int8_versions))
    if len(unknown) < 2:
        return
    try:
        values = checksums(hashed)
    except InvalidArgumentError:
        return  # a version that does not fit: each checksum() call says so for its own
    for migration, value in zip(unknown, values):
        migration._checksums[key] = value
