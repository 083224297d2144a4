"""Database URLs: parsing, redacting passwords, and opening connections.

``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
``sqlite:///:memory:`` (also ``sqlite://``), a SQLite ``file:`` URI or a
bare file path open SQLite; SQLite URI parameters such as ``?mode=ro`` are
passed to SQLite in every form (see :mod:`nocodo_agents.sqlite_location`).
``postgresql://user:pw@host:port/db`` opens psycopg 3 (extra ``postgresql``),
``mysql://user:pw@host:port/db`` (also ``mariadb://``) opens PyMySQL (extra
``mysql``); their query parameters are checked by :mod:`nocodo_agents.postgresql_url`
and :mod:`nocodo_agents.mysql_url`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from .errors import DatabaseUrlError

if TYPE_CHECKING:  # pragma: no cover
    from .connection import DBAPIConnection
    from .sqlite_location import SqliteLocation


#: Query parameters (and conninfo keywords) whose value is a secret.
_SECRET_PARAMETER = re.compile(
    r"(?i)(\b(?:password|passwd|pwd|pass|sslpassword|oauth_client_secret|scram_client_key|scram_server_key)=)"
    # a conninfo's quoted value whole; else up to the next parameter (a # or ; is the password's), a message's ": " left
    r"(?:'(?:[^'\\]|\\.)*'?|[^&\s]*?(?=$|[&\s]|:\s))"
)
#: A URL in a text: its scheme and what follows up to the next whitespace.
_URL_IN_TEXT = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)(\S*)")


def _mask_user_info(scheme: str, rest: str) -> str:
    """``rest`` (what follows ``scheme://``) with the password of its user information replaced by ``***``.

    Everything up to the last ``@`` is taken as the user information, so a
    password holding ``/``, ``?``, ``#`` or ``@`` is hidden whole.
    """
    userinfo, at, host_and_path = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:***@{host_and_path}"
    return scheme + rest


def redact(text: str) -> str:
    """``text`` with any password replaced by ``***``, safe to print or log.

    ``text`` is a URL, or a message that may quote URLs (a driver's message
    such as "Access denied for user 'x'@'127.0.0.1'" is left as it is). A
    text that starts with a URL is one URL, whitespace included; elsewhere a
    URL ends at whitespace. In a URL, everything between ``://`` and the last
    ``@`` is the user information (so a password holding ``/``, ``?``, ``#``
    or ``@`` is hidden whole); ``password=`` style parameters are masked too.
    """
    whole = _URL_IN_TEXT.match(text)
    if whole is not None and whole.start() == 0:
        scheme, rest = text.split("://", 1)
        return _SECRET_PARAMETER.sub(r"\1***", _mask_user_info(scheme + "://", rest))
    masked = _URL_IN_TEXT.sub(lambda found: _mask_user_info(found.group(1), found.group(2)), text)
    return _SECRET_PARAMETER.sub(r"\1***", masked)


def hide_secrets(message: str, url: str) -> str:
    """``message`` (a driver's) redacted, and without the password of ``url`` in any spelling.

    A driver may echo what it could not parse; the password as written in
    the URL and percent-decoded is replaced by ``***`` wherever it occurs
    (passwords shorter than 3 characters are left: replacing them would
    mangle every word).
    """
    try:
        password = urlsplit(url).password if "://" in url else None
    except ValueError:  # a malformed IPv6 host: the URL was refused, nothing was sent
        password = None
    for secret in (password, unquote(password or "")):
        if secret and len(secret) >= 3:
            message = message.replace(secret, "***")
    return redact(message)


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed database URL; ``str()`` never shows the password."""

    url: str
    dialect: str
    path: str = ""
    query: str = ""
    #: SQLite only: the parsed location (path and URI parameters).
    location: SqliteLocation | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return redact(self.url)

    def __repr__(self) -> str:
        return f"DatabaseUrl({redact(self.url)!r}, dialect={self.dialect!r})"

    def connect(self, *, create: bool, empty_if_missing: bool = False) -> DBAPIConnection:
        """Open a DB-API connection.

        ``create=False`` refuses a SQLite file that does not exist, or with
        ``empty_if_missing=True`` stands in an empty in-memory database for it
        (a dry run of a database not created yet, creating nothing).
        """
        from .dialects.registry import DIALECTS

        spec = next(spec for spec in DIALECTS if spec.name == self.dialect)
        return spec.open_url(self, create=create, empty_if_missing=empty_if_missing)


def parse_database_url(url: str) -> DatabaseUrl:
    """Parse ``url``; raise :class:`DatabaseUrlError` (its message redacted) if it is unusable.

    The dialect is the one whose scheme the URL has (a text without ``://``
    is a file path); that dialect's parser checks the rest (see
    :mod:`nocodo_agents.dialects.registry`).
    """
    from .dialects.registry import spec_for_scheme, suggested_schemes

    if not url.strip():
        raise DatabaseUrlError(url=repr(url), problem="it is empty")
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower().split("+", 1)[0] if separator else ""
    spec = spec_for_scheme(scheme)
    if spec is None:
        raise DatabaseUrlError(url=redact(url), problem=f"unknown scheme {scheme!r}: use {suggested_schemes()}")
    return spec.parse_url(url, scheme, rest)


#: The parts of a server URL, as named in messages, and how to find each (never printed: a password may be among them).
_PARTS = (("user name", 0), ("password", 1), ("host", 2), ("database name", 3), ("query", 4))
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def check_server_url(url: str, rest: str) -> None:
    """Refuse a postgresql:// or mysql:// URL that its driver would misread, naming the part at fault, never its text.

    ``rest`` is what follows ``://``. Refused: whitespace or control
    characters, a ``#`` (a fragment means nothing to a database), a ``/``,
    ``?`` or ``@`` of a password or name left unencoded (the URL would be
    split in the wrong place), a ``%`` not followed by two hexadecimal digits
    or an encoded NUL (``%00``), and a bracketed IPv6 host left open. The
    port is checked by the dialect (PostgreSQL takes a list of hosts).
    """
    shown = redact(url)
    if any(character.isspace() or ord(character) < 32 or ord(character) == 127 for character in url):
        raise DatabaseUrlError(
            url=shown,
            problem="it holds whitespace or a control character: percent-encode it (a space is %20)",
        )
    if "#" in rest:
        raise DatabaseUrlError(
            url=shown,
            problem="it holds a '#': a URL fragment means nothing to a database; percent-encode a '#' of a password or name as %23"
        )
    ends = [i for i in (rest.find("/"), rest.find("?")) if i >= 0]
    tail = rest[min(ends):] if ends else ""
    path, _, query = tail.partition("?")
    if "@" in path or any("@" in pair.partition("=")[0] or "=" not in pair for pair in query.split("&") if "@" in pair):
        raise DatabaseUrlError(
            url=shown,
            problem="its user information or database name holds an unencoded '/', '?' or '@': percent-encode them in the "
            "password or name (%2F, %3F, %40)",
        )
    try:
        parts = urlsplit(url)
        userinfo, _, host = parts.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
    except ValueError as error:  # "Invalid IPv6 URL": an unclosed '['
        raise DatabaseUrlError(
            url=shown,
            problem=f"its host is malformed ({error}): write an IPv6 address in brackets, [::1]",
        ) from None
    texts = (user, password, host, parts.path, parts.query)
    for part, index in _PARTS:
        if _BAD_ESCAPE.search(texts[index]):
            raise DatabaseUrlError(
                url=shown, problem=f"its {part} holds a '%' not followed by two hexadecimal digits: write a literal '%' as %25"
            )
        if "%00" in texts[index]:
            raise DatabaseUrlError(url=shown, problem=f"its {part} holds an encoded NUL character (%00), which no server accepts")
