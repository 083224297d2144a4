"""postgresql:// URLs: handed to libpq (through psycopg 3) whole, after checking what libpq would only refuse when connecting.

libpq parses the URL itself, so every libpq connection parameter works as a
query parameter (``?host=/run/postgresql`` for a Unix socket without a host
part, ``sslmode``, ``target_session_attrs``, ``options``...). An unknown
parameter, a malformed query, or a value libpq would refuse is a
:class:`~nocodo_agents.DatabaseUrlError` (exit 2) before connecting, never
a connection failure (exit 6). The same values given through libpq's
environment variables (``PGSSLMODE``...) are checked too. ``replication``
is refused: a replication connection cannot run migrations. Without a
``connect_timeout`` (parameter or ``PGCONNECT_TIMEOUT``) a connection
attempt gives up after 10 seconds.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import DatabaseAccessError, DatabaseUrlError
from .urls import DatabaseUrl, check_server_url, hide_secrets, redact

_TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_PROTOCOL_VERSIONS = ("3.0", "3.2", "latest")

#: The values libpq takes for a parameter (checked as libpq does: case-insensitively for the TLS versions only).
CHOICES: dict[str, tuple[str, ...]] = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": ("any", "read-write", "read-only", "primary", "standby", "prefer-standby"),
    "load_balance_hosts": ("disable", "random"),
    "sslnegotiation": ("postgres", "direct"),
    "sslcertmode": ("disable", "allow", "require"),
    "ssl_min_protocol_version": _TLS_VERSIONS,
    "ssl_max_protocol_version": _TLS_VERSIONS,
    "min_protocol_version": _PROTOCOL_VERSIONS,
    "max_protocol_version": _PROTOCOL_VERSIONS,
    "client_encoding": ("UTF8", "UTF-8", "utf8", "utf-8", "UNICODE", "unicode"),
}
#: Parameters libpq reads as a whole number.
INTEGERS = ("connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "sslcompression", "sslsni")
#: Parameters refused, and why.
REFUSED = {"replication": "a replication connection cannot run migrations; remove the parameter"}
#: libpq's environment variables of the parameters checked here.
_ENVIRONMENT = {
    "sslmode": "PGSSLMODE", "gssencmode": "PGGSSENCMODE", "channel_binding": "PGCHANNELBINDING",
    "target_session_attrs": "PGTARGETSESSIONATTRS", "load_balance_hosts": "PGLOADBALANCEHOSTS",
    "sslnegotiation": "PGSSLNEGOTIATION", "sslcertmode": "PGSSLCERTMODE",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION", "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "min_protocol_version": "PGMINPROTOCOLVERSION", "max_protocol_version": "PGMAXPROTOCOLVERSION",
    "client_encoding": "PGCLIENTENCODING", "connect_timeout": "PGCONNECT_TIMEOUT", "sslcompression": "PGSSLCOMPRESSION",
    "sslsni": "PGSSLSNI", "port": "PGPORT",
}


def conninfo(url: str) -> str:
    """The URL as libpq reads it: scheme ``postgresql://`` (``postgres://``, ``postgresql+psycopg://`` rewritten)."""
    return "postgresql://" + url.partition("://")[2]


def _problem(name: str, value: str) -> str | None:
    """Why libpq would refuse ``value`` for the parameter ``name``, or ``None``."""
    if name in REFUSED:
        return REFUSED[name]
    choices = CHOICES.get(name)
    if choices is not None:
        matches = value.lower() in (c.lower() for c in choices) if name.startswith(("ssl_m", "client")) else value in choices
        return None if matches else f"{value!r} is not one of {', '.join(choices)}"
    if name in INTEGERS:
        return None if value.strip().lstrip("-").isdigit() and value.strip().isascii() else f"{value!r} is not a whole number"
    if name == "port":
        for port in value.split(","):
            if port and not (port.isascii() and port.isdigit() and 0 < int(port) <= 65535):
                return "a port is not a number from 1 to 65535"
    if name == "require_auth":
        methods = ("password", "md5", "gss", "sspi", "scram-sha-256", "oauth", "none")
        for method in value.split(","):
            if method.lstrip("!") not in methods:
                return f"{method!r} is not one of {', '.join(methods)} (each may start with '!')"
    return None


def postgresql_parameters(url: str) -> dict[str, str]:
    """libpq's reading of ``url``, checked; raise :class:`DatabaseUrlError` for what libpq would refuse."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        parameters = {name: str(value) for name, value in conninfo_to_dict(conninfo(url)).items()}
    except ProgrammingError as error:  # an unknown parameter, a malformed query or host
        raise DatabaseUrlError(
            url=redact(url),
            problem=f"libpq cannot read it: {hide_secrets(str(error).strip(), url)}",
        ) from None
    for name, value in parameters.items():
        problem = _problem(name, value)
        if problem is not None:
            raise DatabaseUrlError(url=redact(url), problem=f"the parameter {name}: {problem}")
    for name, variable in _ENVIRONMENT.items():
        value = os.environ.get(variable)
        if name not in parameters and value:
            problem = _problem(name, value)
            if problem is not None:
                raise DatabaseUrlError(
                    url=redact(url),
                    problem=f"the environment variable {variable} (libpq's {name}): {problem}",
                )
    return parameters


def connect_postgresql(url: str, shown: str | None = None) -> Any:
    """A psycopg connection for ``url``; :class:`DatabaseUrlError` for a URL that cannot be used, :class:`DatabaseAccessError` if it cannot connect."""
    shown = shown or redact(url)
    try:
        import psycopg
    except ImportError:
        raise DatabaseUrlError(url=shown, problem="PostgreSQL needs psycopg: pip install 'nocodo-agents[postgresql]'") from None
    parameters = postgresql_parameters(url)
    extra: dict[str, Any] = {}
    if "connect_timeout" not in parameters and not os.environ.get("PGCONNECT_TIMEOUT"):
        extra["connect_timeout"] = 10
    try:
        return psycopg.connect(conninfo(url), **extra)
    except psycopg.Error as error:
        raise DatabaseAccessError(database=shown, problem=f"cannot connect: {hide_secrets(str(error).strip(), url)}") from error


def parse_postgresql_url(url: str, scheme: str, rest: str) -> DatabaseUrl:
    """A ``postgresql://`` URL, checked as every server URL is (libpq reads its parameters when connecting)."""
    check_server_url(url, rest)
    return DatabaseUrl(url, "postgresql")


def open_postgresql_url(database_url: DatabaseUrl, *, create: bool, empty_if_missing: bool) -> Any:
    """A psycopg connection for ``database_url`` (the server creates nothing: ``create`` does not apply)."""
    return connect_postgresql(database_url.url, str(database_url))
