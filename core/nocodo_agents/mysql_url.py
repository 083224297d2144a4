"""mysql:// (and mariadb://) URLs: what PyMySQL is given, checked before connecting.

PyMySQL takes no URL, so every part of one is read here: the user name and
database name percent-decoded as UTF-8, the password percent-decoded to its
UTF-8 bytes (PyMySQL would encode a ``str`` password as latin-1), and each
query parameter either turned into a PyMySQL option or refused
(:class:`~nocodo_agents.DatabaseUrlError`, exit 2), never dropped.

TLS: without a TLS parameter PyMySQL uses TLS if the server offers it and
plaintext otherwise. Any ``ssl*`` parameter other than ``ssl=false`` /
``ssl_disabled=true`` makes TLS required: the connection fails rather than
fall back to plaintext. The certificate is verified against ``ssl_ca``
(``ssl_verify_cert`` defaults to true when ``ssl_ca`` is given; with
``ssl_verify_cert=true`` and no ``ssl_ca``, against the system's CAs), the
host name only with ``ssl_verify_identity=true``. A URL without a password
takes ``$MYSQL_PWD``, as the mysql client does.
"""

from __future__ import annotations

import os
import ssl
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote_to_bytes, urlsplit

from .errors import DatabaseAccessError, DatabaseUrlError
from .urls import DatabaseUrl, check_server_url, hide_secrets, redact


def _flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _seconds(value: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise ValueError("expected a whole number of seconds from 1 to 31536000")
    number = int(value)
    if not 0 < number <= 31536000:
        raise ValueError("expected a whole number of seconds from 1 to 31536000")
    return number


def _file(value: str) -> str:
    if not value:
        raise ValueError("expected the path of a PEM file")
    if not os.path.isfile(value):
        raise ValueError("no such file")
    if not os.access(value, os.R_OK):
        raise ValueError("the file is not readable")
    return value


def _socket(value: str) -> str:
    if not value:
        raise ValueError("expected the path of the server's Unix socket")
    return value


#: The query parameters a mysql:// URL takes, and how each value is read (a ValueError says why it is refused).
MYSQL_PARAMETERS: dict[str, Callable[[str], Any]] = {
    "ssl": _flag,
    "ssl_ca": _file,
    "ssl_cert": _file,
    "ssl_key": _file,
    "ssl_verify_cert": _flag,
    "ssl_verify_identity": _flag,
    "ssl_disabled": _flag,
    "unix_socket": _socket,
    "connect_timeout": _seconds,
    "read_timeout": _seconds,
    "write_timeout": _seconds,
}

#: Why a parameter other drivers or clients know is refused rather than passed on.
_REFUSED = {
    "charset": "the runner always talks utf8mb4 (migrations and the journal hold any Unicode text)",
    "sslmode": "this is PostgreSQL's spelling: write ssl=true (TLS required), ssl_verify_cert=true or ssl_disabled=true",
    "ssl_mode": "write ssl=true (TLS required), ssl_verify_cert=true (verify the certificate) or ssl_disabled=true",
    "password": "a password belongs in the user information: mysql://user:password@host/database",
}


def mysql_options(url: str) -> dict[str, Any]:
    """The query parameters of a mysql:// URL, read; raise :class:`DatabaseUrlError` for any other or a bad value."""
    query = urlsplit(url).query
    options: dict[str, Any] = {}
    if not query:
        return options
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise DatabaseUrlError(url=redact(url), problem="its query is not name=value pairs joined by '&'") from None
    known = ", ".join(MYSQL_PARAMETERS)
    for name, value in pairs:
        read = MYSQL_PARAMETERS.get(name)
        if read is None:
            why = f": {_REFUSED[name]}" if name in _REFUSED else ""
            raise DatabaseUrlError(
                url=redact(url), problem=f"unknown parameter {name!r} for MySQL/MariaDB{why} (the parameters taken: {known})"
            )
        if name in options:
            raise DatabaseUrlError(url=redact(url), problem=f"the parameter {name!r} is given twice")
        try:
            options[name] = read(value)
        except ValueError as error:
            raise DatabaseUrlError(url=redact(url), problem=f"{name}={value!r}: {error}") from None
    return options


def _tls(url: str, options: dict[str, Any]) -> dict[str, Any]:
    """PyMySQL's TLS arguments for ``options``: ``ssl`` an SSLContext (TLS required), ``ssl_disabled``, or none."""
    disabled = options.pop("ssl_disabled", None) is True or options.get("ssl") is False
    asked = {name: options.pop(name) for name in list(options) if name.startswith("ssl")}
    if disabled:
        others = sorted(name for name, value in asked.items() if not (name == "ssl" and value is False))
        if others:
            raise DatabaseUrlError(
                url=redact(url),
                problem=f"TLS is disabled (ssl=false or ssl_disabled=true) yet {', '.join(others)} asks for it: choose one",
            )
        return {"ssl_disabled": True}
    if not asked:
        return {}
    if "ssl_key" in asked and "ssl_cert" not in asked:
        raise DatabaseUrlError(url=redact(url), problem="ssl_key is given without ssl_cert: give the client certificate too")
    identity = asked.get("ssl_verify_identity", False)
    verify = asked.get("ssl_verify_cert", "ssl_ca" in asked or identity)
    if identity and not verify:
        raise DatabaseUrlError(
            url=redact(url),
            problem="ssl_verify_identity=true needs the certificate verified: drop ssl_verify_cert=false",
        )
    # Only ssl_ca's certificates are trusted when it is given, the system's otherwise (as PyMySQL does).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if "ssl_ca" in asked else ssl.create_default_context()
    context.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)  # servers' self-made certificates lack what it demands
    context.check_hostname = bool(identity)
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    try:
        if "ssl_ca" in asked:
            context.load_verify_locations(cafile=asked["ssl_ca"])
        if "ssl_cert" in asked:
            context.load_cert_chain(asked["ssl_cert"], keyfile=asked.get("ssl_key"))
    except (ssl.SSLError, OSError) as error:
        names = "ssl_ca" if "ssl_cert" not in asked else "ssl_ca, ssl_cert or ssl_key"
        raise DatabaseUrlError(
            url=redact(url),
            problem=f"{names} cannot be used ({error}): give PEM files (and the key matching the certificate)",
        ) from None
    return {"ssl": context}


def _text(url: str, raw: str, part: str) -> str:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise DatabaseUrlError(url=redact(url), problem=f"its {part} is not UTF-8 once percent-decoded") from None


def _password(given: str | None) -> bytes:
    """The URL's password percent-decoded, else ``$MYSQL_PWD`` (as the mysql client reads it), as UTF-8 bytes.

    Bytes, because PyMySQL would send a ``str`` password encoded as latin-1:
    a password with characters outside latin-1 could never log in.
    """
    if given is not None:
        return unquote_to_bytes(given)
    return os.environ.get("MYSQL_PWD", "").encode("utf-8", "surrogateescape")


def mysql_connect_arguments(url: str) -> dict[str, Any]:
    """The keyword arguments of ``pymysql.connect`` for ``url``; raise :class:`DatabaseUrlError` for what cannot be used."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if "," in parts.netloc.rpartition("@")[2]:
        raise DatabaseUrlError(url=redact(url), problem="it names more than one host: MySQL/MariaDB URLs take one")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port <= 65535:
        raise DatabaseUrlError(url=redact(url), problem="its port is not a number from 1 to 65535")
    database = _text(url, parts.path.lstrip("/"), "database name")
    if not database:
        raise DatabaseUrlError(url=redact(url), problem="name the database: mysql://user:password@host:port/DATABASE")
    options = mysql_options(url)
    arguments: dict[str, Any] = {
        "host": host,
        "port": port or 3306,
        "user": _text(url, parts.username or "", "user name"),
        "password": _password(parts.password),
        "database": database,
        "charset": "utf8mb4",
        "connect_timeout": 10,
    }
    arguments.update(_tls(url, options))
    arguments.update(options)
    return arguments


def connect_mysql(url: str, shown: str | None = None) -> Any:
    """A PyMySQL connection for ``url``; :class:`DatabaseUrlError` for a URL that cannot be used, :class:`DatabaseAccessError` if it cannot connect."""
    shown = shown or redact(url)
    try:
        import pymysql
    except ImportError:
        raise DatabaseUrlError(url=shown, problem="MySQL and MariaDB need PyMySQL: pip install 'nocodo-agents[mysql]'") from None
    arguments = mysql_connect_arguments(url)
    try:
        return pymysql.connect(**arguments)
    except (pymysql.MySQLError, OSError) as error:  # OSError: ssl.SSLError in the TLS handshake, among others
        tls = " (TLS was required)" if "ssl" in arguments else ""
        raise DatabaseAccessError(database=shown, problem=f"cannot connect{tls}: {hide_secrets(str(error), url)}") from error


def parse_mysql_url(url: str, scheme: str, rest: str) -> DatabaseUrl:
    """A ``mysql://`` or ``mariadb://`` URL, refusing what PyMySQL would misread or never see, before connecting."""
    check_server_url(url, rest)
    mysql_connect_arguments(url)
    return DatabaseUrl(url, "mysql")


def open_mysql_url(database_url: DatabaseUrl, *, create: bool, empty_if_missing: bool) -> Any:
    """A PyMySQL connection for ``database_url`` (the server creates nothing: ``create`` does not apply)."""
    return connect_mysql(database_url.url, str(database_url))
