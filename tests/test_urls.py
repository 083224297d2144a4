"""Database URLs: parsing and password redaction."""

import re
from pathlib import Path

import pytest

from nocodo_agents import DatabaseUrlError
from nocodo_agents.urls import parse_database_url, redact


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://app:hunter2@db:5432/agents", "postgresql://app:***@db:5432/agents"),
        ("postgresql://app:p@ss?#x@db/agents", "postgresql://app:***@db/agents"),
        ("postgresql://app@db/agents?sslmode=require&password=hunter2", "postgresql://app@db/agents?sslmode=require&password=***"),
        ("mysql://u:pw@h/db?x=1&PASSWORD=zz&y=2", "mysql://u:***@h/db?x=1&PASSWORD=***&y=2"),
        ("host=db password=hunter2 user=app", "host=db password=*** user=app"),
        ("postgresql://db/agents", "postgresql://db/agents"),
        ("sqlite:///data/agents.db", "sqlite:///data/agents.db"),
        ("postgresql://u@h/db?oauth_client_secret=s1&scram_client_key=s2", "postgresql://u@h/db?oauth_client_secret=***&scram_client_key=***"),
        # a driver's message quoting user@host is not user information
        (
            "cannot use database mysql://root@h:3306/db: cannot connect: (1045, \"Access denied for user 'root'@'127.0.0.1'\")",
            "cannot use database mysql://root@h:3306/db: cannot connect: (1045, \"Access denied for user 'root'@'127.0.0.1'\")",
        ),
        (
            "cannot use database mysql://u:pw@h/db: Access denied for user 'u'@'h' (using password: YES)",
            "cannot use database mysql://u:***@h/db: Access denied for user 'u'@'h' (using password: YES)",
        ),
        ("see postgresql://a:b@c@d/e and mysql://x:y@z/w", "see postgresql://a:***@d/e and mysql://x:***@z/w"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_an_at_sign_in_a_parameter_value_is_not_user_information() -> None:
    assert parse_database_url("postgresql://app@h/db?sslrootcert=/certs/a@b.pem").dialect == "postgresql"


def test_parsed_urls_never_show_the_password() -> None:
    parsed = parse_database_url("postgresql://app:hunter2@db/agents")
    assert parsed.dialect == "postgresql"
    assert "hunter2" not in str(parsed) and "hunter2" not in repr(parsed)


@pytest.mark.parametrize(
    "url, dialect, path, query",
    [
        ("sqlite:///data/a.db", "sqlite", "data/a.db", ""),
        ("sqlite:////tmp/a.db?mode=ro", "sqlite", "/tmp/a.db", "mode=ro"),
        ("agents.db", "sqlite", "agents.db", ""),
        ("mariadb://u@h/db", "mysql", "", ""),
        ("postgres://u@h/db", "postgresql", "", ""),
        ("postgresql+psycopg://u@h/db", "postgresql", "", ""),
    ],
)
def test_parse(url: str, dialect: str, path: str, query: str) -> None:
    parsed = parse_database_url(url)
    assert (parsed.dialect, parsed.path, parsed.query) == (dialect, path, query)


@pytest.mark.parametrize(
    "url, problem",
    [
        ("", "empty"),
        ("ftp://x", "unknown scheme 'ftp'"),
        ("sqlite://relative.db", "three or four slashes"),
        ("mysql://u:pw@h:notaport/db", "its port is not a number from 1 to 65535"),
        ("postgresql://app:p?x@h/db", "unencoded"),
        ("postgresql://app:a/b@h/db", "percent-encode"),
    ],
)
def test_unusable_urls(url: str, problem: str) -> None:
    with pytest.raises(DatabaseUrlError, match=problem) as raised:
        parse_database_url(url)
    assert "pw" not in str(raised.value) and "a/b" not in str(raised.value)


# -- SQLite locations: every form, parameters passed through, nothing mistaken for a file name -------


@pytest.mark.parametrize(
    "url, path, parameters",
    [
        ("db.sqlite?mode=ro", "db.sqlite", (("mode", "ro"),)),
        ("db.sqlite?mode=RO&cache=shared", "db.sqlite", (("mode", "ro"), ("cache", "shared"))),
        ("sqlite:///rel/db.sqlite?immutable=1", "rel/db.sqlite", (("immutable", "1"),)),
        ("sqlite:////abs/db.sqlite?vfs=unix-dotfile", "/abs/db.sqlite", (("vfs", "unix-dotfile"),)),
        ("my data%20#1.db", "my data%20#1.db", ()),  # a plain path is literal: %, # and spaces are its own
        ("sqlite:///my data%20#1.db", "my data%20#1.db", ()),
        ("file:my%20data.db?mode=ro#ignored", "my data.db", (("mode", "ro"),)),  # SQLite's URI: percent-decoded
        ("file:///abs/x.db", "/abs/x.db", ()),
        ("file://localhost/abs/x.db", "/abs/x.db", ()),
        ("sqlite:///file:x.db?mode=ro&uri=true", "x.db", (("mode", "ro"), ("uri", "true"))),  # SQLAlchemy's form
        (":memory:", ":memory:", ()),
        (":memory:?cache=shared", ":memory:", (("cache", "shared"),)),
        ("sqlite:///:memory:", ":memory:", ()),
        ("sqlite://", ":memory:", ()),
        ("shared?mode=memory&cache=shared", "shared", (("mode", "memory"), ("cache", "shared"))),
    ],
)
def test_sqlite_locations(url: str, path: str, parameters: tuple) -> None:
    parsed = parse_database_url(url)
    assert parsed.dialect == "sqlite" and parsed.location is not None
    assert (parsed.location.path, parsed.location.parameters) == (path, parameters)
    assert parsed.path == path


def test_a_leading_tilde_is_the_home_directory() -> None:
    assert parse_database_url("~/agents.db").path == str(Path.home() / "agents.db")
    assert parse_database_url("sqlite:///~/agents.db").path == str(Path.home() / "agents.db")


@pytest.mark.parametrize(
    "url, problem",
    [
        ("db.sqlite?mdoe=ro", "unknown SQLite URI parameter 'mdoe'"),
        ("db.sqlite?timeout=5", "unknown SQLite URI parameter 'timeout'"),
        ("db.sqlite?mode=readonly", "mode='readonly' is not one of memory, ro, rw, rwc"),
        ("db.sqlite?cache=yes", "cache='yes' is not one of private, shared"),
        ("db.sqlite?mode=ro&mode=rw", "given twice"),
        ("db.sqlite?mode", "not name=value pairs"),
        ("db.sqlite?", "nothing follows '?'"),
        ("?mode=ro", "no file path is given before '?'"),
        ("sqlite:///", "no file path is given"),
        ("sqlite:///?mode=ro", "no file path is given"),
        ("file:", "no file path is given"),
        ("   ", "empty"),
        (" db.sqlite", "begins or ends with whitespace"),
        ("db.sqlite\n", "begins or ends with whitespace"),
        ("db\x00.sqlite", "NUL"),
        ("file://example.com/x.db", "no host other than localhost"),
    ],
)
def test_unusable_sqlite_locations(url: str, problem: str) -> None:
    with pytest.raises(DatabaseUrlError, match=re.escape(problem)):
        parse_database_url(url)


@pytest.mark.parametrize(
    "url, problem",
    [
        ("mysql://u@h/db?sslmode=require", "unknown parameter 'sslmode' for MySQL/MariaDB"),
        ("mysql://u:pw@h/db?password=hunter2", "unknown parameter 'password'"),
        ("mariadb://u@h/db?connect_timeout=soon", "connect_timeout='soon'"),
        ("mysql://u@h/db?ssl_verify_cert=maybe", "expected true or false"),
        ("mysql://u@h/db?read_timeout=5&read_timeout=6", "given twice"),
        ("mysql://u@h/db?ssl_ca", "not name=value pairs"),
    ],
)
def test_mysql_parameters_pymysql_would_never_see_are_refused(url: str, problem: str) -> None:
    with pytest.raises(DatabaseUrlError, match=re.escape(problem)) as raised:
        parse_database_url(url)
    assert "hunter2" not in str(raised.value)


def test_mysql_parameters_become_pymysql_options(tmp_path: Path) -> None:
    import ssl

    from nocodo_agents.mysql_url import mysql_connect_arguments, mysql_options

    url = "mysql://u@h/db?ssl_verify_cert=false&connect_timeout=5&read_timeout=7&unix_socket=/run/my.sock"
    assert parse_database_url(url).dialect == "mysql"
    assert mysql_options(url) == {"ssl_verify_cert": False, "connect_timeout": 5, "read_timeout": 7, "unix_socket": "/run/my.sock"}
    arguments = mysql_connect_arguments(url)
    assert isinstance(arguments["ssl"], ssl.SSLContext) and arguments["ssl"].verify_mode == ssl.CERT_NONE  # TLS required
    assert (arguments["connect_timeout"], arguments["unix_socket"]) == (5, "/run/my.sock")
    assert "ssl" not in mysql_connect_arguments("mysql://u@h/db") and mysql_connect_arguments("mysql://u@h/db?ssl=false")["ssl_disabled"]


def test_mysql_names_and_passwords_are_utf8() -> None:
    from nocodo_agents.mysql_url import mysql_connect_arguments

    arguments = mysql_connect_arguments("mysql://%C3%BC%40x:p%C3%A4ss€%2F@[::1]:3307/d%C3%A9v")
    assert (arguments["user"], arguments["password"], arguments["database"]) == ("ü@x", "päss€/".encode(), "dév")
    assert (arguments["host"], arguments["port"]) == ("::1", 3307)
    with pytest.raises(DatabaseUrlError, match="its database name is not UTF-8"):
        mysql_connect_arguments("mysql://u@h/%FF")
