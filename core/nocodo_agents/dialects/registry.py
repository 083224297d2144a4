"""Every dialect's knowledge in one place: its name, URL schemes, connection type, driver errors, splitter.

Adding a database means adding one :class:`DialectSpec` to :data:`DIALECTS`
(and its modules); :func:`~nocodo_agents.dialects.dialect_for`,
:func:`~nocodo_agents.urls.parse_database_url`, opening a URL and the CLI's
exit codes loop over this tuple and name no database themselves.

Everything here is a name, never an import: a driver's module is looked at
only if it is already in :data:`sys.modules` (a connection or an error of
that driver implies it), and a dialect's own modules are imported only when
one of its connections or URLs is met, so ``import nocodo_agents`` and
detection import no driver.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..urls import DatabaseUrl
    from .base import Dialect

#: A class named by its module and its dotted path in that module: ``("sqlite3", "Connection")``.
ClassName = tuple[str, str]


@dataclass(frozen=True)
class DialectSpec:
    """What the package knows about one database, by name only (nothing is imported until it is needed).

    ``dialect_class``, ``url_parser`` and ``url_opener`` are
    ``"module:attribute"`` references. The URL parser is called as
    ``parser(url, scheme, rest)`` (``scheme`` lower-cased, ``""`` for a text
    without ``://``; ``rest`` what follows ``://``) and returns a
    :class:`~nocodo_agents.urls.DatabaseUrl` or raises
    :class:`~nocodo_agents.DatabaseUrlError`; the opener is called as
    ``opener(database_url, create=..., empty_if_missing=...)``. The
    splitter is the dialect class's ``split_statements`` method (it may
    depend on the server's version, learnt from the connection).
    """

    #: The name migrations receive (``migration(dialect)``), and :attr:`Dialect.name`.
    name: str
    #: How messages name the driver: ``"PyMySQL"``.
    driver: str
    #: The :class:`~nocodo_agents.dialects.Dialect` subclass, ``"module:Class"``.
    dialect_class: str
    #: The DB-API connection classes this dialect drives (looked at only if their module is imported).
    connection_types: tuple[ClassName, ...]
    #: URL schemes (lower case; ``+driver`` suffixes are ignored), the first being the one messages suggest.
    schemes: tuple[str, ...]
    #: Parses a URL of one of :attr:`schemes`, ``"module:function"``.
    url_parser: str
    #: Opens a parsed URL, ``"module:function"``.
    url_opener: str
    #: Driver errors that mean "database unavailable" when they reach the command line (exit 6).
    unavailable_errors: tuple[ClassName, ...]
    #: Whether a text without ``://`` (a file path, a ``file:`` URI) names a database of this dialect.
    takes_paths: bool = False

    def dialect(self, connection: Any) -> Dialect:
        """A new dialect object for ``connection`` (one of :attr:`connection_types`)."""
        dialect_class = _resolve(self.dialect_class)
        return dialect_class(connection)  # type: ignore[no-any-return]

    def parse_url(self, url: str, scheme: str, rest: str) -> DatabaseUrl:
        """``url`` parsed and checked by this dialect (see the class docstring)."""
        return _resolve(self.url_parser)(url, scheme, rest)  # type: ignore[no-any-return]

    def open_url(self, database_url: DatabaseUrl, *, create: bool, empty_if_missing: bool) -> Any:
        """A DB-API connection for ``database_url``."""
        return _resolve(self.url_opener)(database_url, create=create, empty_if_missing=empty_if_missing)


#: Every dialect, in the order messages list them.
DIALECTS: tuple[DialectSpec, ...] = (
    DialectSpec(
        name="sqlite",
        driver="sqlite3",
        dialect_class="nocodo_agents.dialects.sqlite:SQLiteDialect",
        connection_types=(("sqlite3", "Connection"),),
        schemes=("sqlite", "file"),
        url_parser="nocodo_agents.sqlite_location:parse_sqlite_url",
        url_opener="nocodo_agents.sqlite_location:open_sqlite_url",
        unavailable_errors=(("sqlite3", "Error"),),
        takes_paths=True,
    ),
    DialectSpec(
        name="postgresql",
        driver="psycopg (3)",
        dialect_class="nocodo_agents.dialects.postgresql:PostgreSQLDialect",
        connection_types=(("psycopg", "Connection"),),
        schemes=("postgresql", "postgres"),
        url_parser="nocodo_agents.postgresql_url:parse_postgresql_url",
        url_opener="nocodo_agents.postgresql_url:open_postgresql_url",
        unavailable_errors=(("psycopg", "Error"),),
    ),
    DialectSpec(
        name="mysql",
        driver="PyMySQL",
        dialect_class="nocodo_agents.dialects.mysql:MySQLDialect",
        connection_types=(("pymysql.connections", "Connection"),),
        schemes=("mysql", "mariadb"),
        url_parser="nocodo_agents.mysql_url:parse_mysql_url",
        url_opener="nocodo_agents.mysql_url:open_mysql_url",
        unavailable_errors=(("pymysql", "MySQLError"),),
    ),
)


def _resolve(reference: str) -> Any:
    """The attribute a ``"module:attribute"`` reference names, importing its module."""
    module_name, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def loaded_class(name: ClassName) -> type | None:
    """The class ``name`` names if its module is already imported (importing nothing), else ``None``."""
    module_name, class_path = name
    target: Any = sys.modules.get(module_name)
    for part in class_path.split(".") if target is not None else ():
        target = getattr(target, part, None)
    return target if isinstance(target, type) else None


def is_instance(value: Any, name: ClassName) -> bool:
    """Whether ``value`` is an instance of the class ``name`` names (``False`` if its module is not imported)."""
    cls = loaded_class(name)
    return cls is not None and isinstance(value, cls)


def spec_for_connection(connection: Any) -> DialectSpec | None:
    """The dialect whose connection type ``connection`` has, if any."""
    for spec in DIALECTS:
        if any(is_instance(connection, name) for name in spec.connection_types):
            return spec
    return None


def spec_for_scheme(scheme: str) -> DialectSpec | None:
    """The dialect of URLs with ``scheme`` (lower case), or of texts without one (``""``: a file path)."""
    for spec in DIALECTS:
        if (spec.takes_paths and not scheme) or scheme in spec.schemes:
            return spec
    return None


def suggested_schemes() -> str:
    """``sqlite://, postgresql:// or mysql://``: the first scheme of each dialect, for messages."""
    return _listed([f"{spec.schemes[0]}://" for spec in DIALECTS])


def is_unavailable_error(error: BaseException) -> bool:
    """Whether ``error`` is a driver error meaning the database is unavailable (only loaded drivers are looked at)."""
    return any(is_instance(error, name) for spec in DIALECTS for name in spec.unavailable_errors)


def supported_drivers() -> str:
    """``sqlite3, psycopg (3) or PyMySQL``: every dialect's driver, for messages."""
    return _listed([spec.driver for spec in DIALECTS])


def _listed(items: list[str]) -> str:
    """``a, b or c``."""
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else items[0]
