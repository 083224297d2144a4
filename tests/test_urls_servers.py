"""Server URLs through the real console script, against the private PostgreSQL and MariaDB servers.

Every part of a URL either works (Unix sockets, TLS, UTF-8 user names and
passwords, IPv6 hosts, libpq's parameters, $MYSQL_PWD and $PGPASSWORD) or
is refused with exit 2 naming the part at fault; a URL asking for TLS never
connects in plaintext (proved with a MariaDB server given certificates made
here with ``openssl``, and users the server only admits over TLS); a
password is never printed, not even with ``-vv``; the server's own messages
("Access denied for user 'x'@'127.0.0.1'") reach the user intact.
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from cli_support import Cli
from servers import MariaDBServer, PostgresServer

_names = itertools.count()
ALL_APPLIED = "[4/4] applied V4__create_project_requirements_qna"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    (tmp_path / "site").mkdir()
    return Cli(tmp_path, tmp_path / "site")


def _maria_database(server: MariaDBServer) -> str:
    name = f"urls_{next(_names)}"
    server.create_database(name)
    return name


def _maria_run(server: MariaDBServer, *statements: str) -> None:
    admin = server.connect()
    try:
        with admin.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        admin.close()


def _maria_tables(server: MariaDBServer, database: str) -> list[str]:
    admin = server.connect(database)
    try:
        with admin.cursor() as cursor:
            cursor.execute("SHOW TABLES")
            return sorted(row[0] for row in cursor.fetchall())
    finally:
        admin.close()


def _pg_database(server: PostgresServer) -> str:
    name = f"urls_{next(_names)}"
    server.create_database(name)
    return name


def _pg_tables(server: PostgresServer, database: str) -> list[str]:
    with psycopg.connect(server.dsn(database)) as connection:
        return sorted(r[0] for r in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))


# -- TLS: a MariaDB server with certificates made here ------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(directory: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and ::1 signed by it, a client certificate, and an unrelated CA."""
    directory.mkdir()
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=nocodo test {ca}",
                 "-keyout", f"{ca}-key.pem", "-out", f"{ca}.pem", cwd=directory)
    for name, extension in (("server", "subjectAltName=IP:127.0.0.1,IP:::1"), ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=nocodo test {name}",
                 "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=directory)
        (directory / f"{name}.ext").write_text(extension + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=directory)


@pytest.fixture(scope="module")
def tls_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """A MariaDB server with TLS, listening on 127.0.0.1 and ::1; users ``tls_only`` (REQUIRE SSL) and ``x509_only``."""
    certificates = tmp_path_factory.mktemp("tls") / "certs"
    _certificates(certificates)
    server = MariaDBServer(options=[
        f"--ssl-ca={certificates / 'ca.pem'}", f"--ssl-cert={certificates / 'server.pem'}",
        f"--ssl-key={certificates / 'server-key.pem'}", "--bind-address=*",
    ])
    server.certificates = certificates  # type: ignore[attr-defined]
    try:
        server.start()
        _maria_run(
            server,
            "CREATE USER 'tls_only'@'%' IDENTIFIED BY 'tls-pw' REQUIRE SSL",
            "CREATE USER 'x509_only'@'%' IDENTIFIED BY 'x509-pw' REQUIRE X509",
            "GRANT ALL ON *.* TO 'tls_only'@'%'",
            "GRANT ALL ON *.* TO 'x509_only'@'%'",
        )
        yield server
    finally:
        server.stop()


def _tls_url(server: MariaDBServer, database: str, query: str, user: str = "tls_only:tls-pw", host: str = "127.0.0.1") -> str:
    certificates: Path = server.certificates  # type: ignore[attr-defined]
    return f"mysql://{user}@{host}:{server.port}/{database}?" + query.format(certs=certificates)


@pytest.mark.parametrize(
    "query",
    [
        "ssl=true",
        "ssl_ca={certs}/ca.pem",
        "ssl_ca={certs}/ca.pem&ssl_verify_identity=true",
        "ssl_ca={certs}/ca.pem&ssl_verify_cert=false",
        "ssl_verify_cert=false",
    ],
)
def test_tls_parameters_connect_over_tls(tls_mariadb: MariaDBServer, cli: Cli, query: str) -> None:
    """The user ``tls_only`` is admitted over TLS only: a run that applies everything connected with TLS."""
    database = _maria_database(tls_mariadb)
    migrated = cli("migrate", "--db", _tls_url(tls_mariadb, database, query))
    assert migrated.code == 0, migrated.text
    assert ALL_APPLIED in migrated.out


def test_tls_disabled_is_plaintext(tls_mariadb: MariaDBServer, cli: Cli) -> None:
    """The control: the same user without TLS is refused by the server (so the runs above used TLS)."""
    database = _maria_database(tls_mariadb)
    for query in ("ssl_disabled=true", "ssl=false"):
        refused = cli("migrate", "--db", _tls_url(tls_mariadb, database, query))
        assert refused.code == 6, refused.text
        assert "Access denied for user 'tls_only'@'127.0.0.1'" in refused.err, "the server's message, intact"
        assert "tls-pw" not in refused.text
    assert _maria_tables(tls_mariadb, database) == []


def test_client_certificate_is_presented(tls_mariadb: MariaDBServer, cli: Cli) -> None:
    database = _maria_database(tls_mariadb)
    client = "ssl_ca={certs}/ca.pem&ssl_cert={certs}/client.pem&ssl_key={certs}/client-key.pem"
    migrated = cli("migrate", "--db", _tls_url(tls_mariadb, database, client, user="x509_only:x509-pw"))
    assert migrated.code == 0, migrated.text
    without = cli("status", "--db", _tls_url(tls_mariadb, database, "ssl_ca={certs}/ca.pem", user="x509_only:x509-pw"))
    assert without.code == 6 and "Access denied for user 'x509_only'" in without.err, without.text


@pytest.mark.parametrize(
    "query, host, problem",
    [
        ("ssl_ca={certs}/other-ca.pem", "127.0.0.1", "CERTIFICATE_VERIFY_FAILED"),  # a CA that did not sign the server's
        ("ssl_verify_cert=true", "127.0.0.1", "CERTIFICATE_VERIFY_FAILED"),  # the system's CAs did not either
        ("ssl_ca={certs}/ca.pem&ssl_verify_identity=true", "localhost", "localhost"),  # the certificate names 127.0.0.1
    ],
)
def test_tls_verification_failures_never_fall_back_to_plaintext(tls_mariadb: MariaDBServer, cli: Cli, query: str, host: str, problem: str) -> None:
    database = _maria_database(tls_mariadb)
    refused = cli("migrate", "--db", _tls_url(tls_mariadb, database, query, user="root", host=host))
    assert refused.code == 6, refused.text
    assert "TLS was required" in refused.err and problem in refused.err and "Traceback" not in refused.text
    assert _maria_tables(tls_mariadb, database) == []


@pytest.mark.parametrize("query", ["ssl=true", "ssl_verify_cert=false", "ssl_ca={certs}/ca.pem"])
def test_tls_asked_of_a_server_without_tls_never_connects_in_plaintext(mariadb_server: MariaDBServer, tls_mariadb, cli: Cli, query: str) -> None:
    """The session server has no TLS: a URL asking for it fails (exit 6) instead of running in plaintext."""
    database = _maria_database(mariadb_server)
    url = f"mysql://root@127.0.0.1:{mariadb_server.port}/{database}?" + query.format(certs=tls_mariadb.certificates)
    refused = cli("migrate", "--db", url)
    assert refused.code == 6, refused.text
    assert "TLS was required" in refused.err and "SSL is required but the server doesn't support it" in refused.err
    assert _maria_tables(mariadb_server, database) == []


def test_ipv6_host_in_brackets(tls_mariadb: MariaDBServer, cli: Cli) -> None:
    database = _maria_database(tls_mariadb)
    migrated = cli("migrate", "--db", f"mariadb://root@[::1]:{tls_mariadb.port}/{database}")
    assert migrated.code == 0, migrated.text


@pytest.mark.parametrize(
    "query, problem",
    [
        ("ssl_ca=/nonexistent/ca.pem", "ssl_ca='/nonexistent/ca.pem': no such file"),
        ("ssl_ca={certs}/ca.pem&ssl_disabled=true", "TLS is disabled (ssl=false or ssl_disabled=true) yet ssl_ca asks for it"),
        ("ssl=false&ssl_verify_cert=true", "yet ssl_verify_cert asks for it"),
        ("ssl_key={certs}/client-key.pem", "ssl_key is given without ssl_cert"),
        ("ssl_ca={certs}/ca.pem&ssl_verify_cert=false&ssl_verify_identity=true", "ssl_verify_identity=true needs the certificate verified"),
        ("ssl_ca={certs}/server.csr", "ssl_ca cannot be used"),
        ("ssl_cert={certs}/client.pem&ssl_key={certs}/server-key.pem", "ssl_ca, ssl_cert or ssl_key cannot be used"),
        ("ssl=maybe", "ssl='maybe': expected true or false"),
        ("sslmode=require", "unknown parameter 'sslmode' for MySQL/MariaDB: this is PostgreSQL's spelling"),
        ("charset=latin1", "unknown parameter 'charset'"),
        ("ssl_key_password=x", "unknown parameter 'ssl_key_password'"),
        ("connect_timeout=0", "connect_timeout='0': expected a whole number of seconds from 1 to 31536000"),
        ("read_timeout=1.5", "read_timeout='1.5'"),
        ("unix_socket=", "unix_socket='': expected the path"),
    ],
)
def test_mysql_parameters_that_cannot_be_honoured_exit_2(tls_mariadb: MariaDBServer, cli: Cli, query: str, problem: str) -> None:
    refused = cli("status", "--db", _tls_url(tls_mariadb, "agents", query))
    assert refused.code == 2, refused.text
    assert problem in refused.err and "tls-pw" not in refused.text
    assert "ssl, ssl_ca, ssl_cert, ssl_key, ssl_verify_cert, ssl_verify_identity, ssl_disabled, unix_socket" in refused.err or "unknown" not in problem


# -- Unix sockets -----------------------------------------------------------------------------------


def test_postgresql_unix_socket_without_a_host_part(postgres_server: PostgresServer, cli: Cli) -> None:
    database = _pg_database(postgres_server)
    for url in (
        f"postgresql:///{database}?host={postgres_server.root}&port={postgres_server.port}&user=postgres",
        f"postgres://postgres@{quote(str(postgres_server.root), safe='')}:{postgres_server.port}/{database}",
    ):
        result = cli("migrate", "--db", url)
        assert result.code == 0, result.text
    assert "refinery_schema_history" in _pg_tables(postgres_server, database)


def test_mysql_unix_socket(mariadb_server: MariaDBServer, cli: Cli) -> None:
    database = _maria_database(mariadb_server)
    migrated = cli("migrate", "--db", f"mysql://root@localhost/{database}?unix_socket={mariadb_server.root / 'mysqld.sock'}")
    assert migrated.code == 0, migrated.text
    assert "refinery_schema_history" in _maria_tables(mariadb_server, database)


# -- user names and passwords -----------------------------------------------------------------------

#: Characters outside latin-1 and ASCII punctuation a URL must percent-encode.
PASSWORD = "pässwörd€ 密码/?#@:%"
USER = "ü@s:e/r"


@pytest.fixture(scope="module")
def maria_unicode_user(mariadb_server: MariaDBServer) -> str:
    _maria_run(
        mariadb_server,
        f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'",
        f"GRANT ALL ON *.* TO '{USER}'@'%'",
    )
    return USER


def test_mysql_non_ascii_user_and_password(mariadb_server: MariaDBServer, maria_unicode_user: str, cli: Cli) -> None:
    database = _maria_database(mariadb_server)
    url = f"mysql://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@127.0.0.1:{mariadb_server.port}/{database}"
    migrated = cli("migrate", "-vv", "--db", url)
    assert migrated.code == 0, migrated.text
    assert quote(PASSWORD, safe="") not in migrated.text
    # non-ASCII characters need no encoding: they are sent as UTF-8
    raw = f"mysql://{quote(USER, safe='')}:pässwörd€%20密码%2F%3F%23%40%3A%25@127.0.0.1:{mariadb_server.port}/{database}"
    assert cli("status", "--check", "--db", raw).code == 0


def test_mysql_password_from_mysql_pwd(mariadb_server: MariaDBServer, maria_unicode_user: str, cli: Cli) -> None:
    database = _maria_database(mariadb_server)
    url = f"mysql://{quote(USER, safe='')}@127.0.0.1:{mariadb_server.port}/{database}"
    assert cli("migrate", "--db", url, env={"MYSQL_PWD": PASSWORD}).code == 0
    wrong = cli("status", "--db", url, env={"MYSQL_PWD": "not-it"})
    assert wrong.code == 6 and "Access denied for user 'ü@s:e/r'@'127.0.0.1' (using password: YES)" in wrong.err, wrong.text


@pytest.fixture(scope="module")
def pg_password_user(postgres_server: PostgresServer) -> str:
    """A role that must give its password (scram-sha-256 from 127.0.0.1): pg_hba.conf gains a line for it."""
    user = "pw_üser"
    with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE \"{user}\" LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
        hba = Path(admin.execute("SHOW hba_file").fetchone()[0])
        hba.write_text(f'host all "{user}" 127.0.0.1/32 scram-sha-256\n' + hba.read_text())
        admin.execute("SELECT pg_reload_conf()")
    return user


def test_postgresql_non_ascii_user_and_password(postgres_server: PostgresServer, pg_password_user: str, cli: Cli) -> None:
    database = _pg_database(postgres_server)
    base = f"127.0.0.1:{postgres_server.port}/{database}"
    url = f"postgresql://{quote(pg_password_user, safe='')}:{quote(PASSWORD, safe='')}@{base}"
    migrated = cli("migrate", "-vv", "--db", url)
    assert migrated.code == 0, migrated.text
    assert cli("status", "--check", "--db", f"postgresql://{quote(pg_password_user, safe='')}@{base}", env={"PGPASSWORD": PASSWORD}).code == 0
    wrong = cli("status", "--db", f"postgresql://{quote(pg_password_user, safe='')}:not-it@{base}")
    assert wrong.code == 6 and f'password authentication failed for user "{pg_password_user}"' in wrong.err, wrong.text
    assert "not-it" not in wrong.text


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
@pytest.mark.parametrize(
    "userinfo, part",
    [("admin:se%zzcret", "password"), ("admin:secret%4", "password"), ("ad%gmin:secret", "user name"), ("admin:sec%00ret", "password")],
)
def test_a_bad_percent_escape_is_refused_without_printing_the_password(cli: Cli, scheme: str, userinfo: str, part: str) -> None:
    result = cli("status", "-vv", "--db", f"{scheme}://{userinfo}@127.0.0.1:1/agents")
    assert result.code == 2, result.text
    assert f"its {part} holds" in result.err
    assert "cret" not in result.text and "Traceback" not in result.text


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
@pytest.mark.parametrize(
    "url, problem",
    [
        ("{scheme}://admin:pass word@h/agents", "whitespace"),
        ("{scheme}://admin:secret@h/agents#x", "'#'"),
        ("{scheme}://admin:se/cret@h/agents", "unencoded '/', '?' or '@'"),
        ("{scheme}://admin:se?cret@h/agents", "unencoded '/', '?' or '@'"),
        ("{scheme}://admin:secret@[::1/agents", "its host is malformed"),
        ("{scheme}://admin:secret@h:70000/agents", "from 1 to 65535"),
        ("{scheme}://admin:secret@h:0/agents", "from 1 to 65535"),
        ("{scheme}://admin:secret@h:port/agents", "from 1 to 65535"),
    ],
)
def test_malformed_server_urls_exit_2(cli: Cli, postgres_server, url: str, scheme: str, problem: str) -> None:
    result = cli("status", "-vv", "--db", url.format(scheme=scheme))
    assert result.code == 2, result.text
    assert problem in result.err and "cret" not in result.text and "Traceback" not in result.text


def test_mysql_takes_one_host(cli: Cli) -> None:
    result = cli("status", "--db", "mysql://u@h1:3306,h2:3306/agents")
    assert result.code == 2 and "more than one host" in result.err, result.text


def test_drivers_messages_are_not_mangled(mariadb_server: MariaDBServer, cli: Cli) -> None:
    result = cli("status", "--db", f"mysql://nosuch:hunter22@127.0.0.1:{mariadb_server.port}/agents")
    assert result.code == 6, result.text
    assert f"mysql://nosuch:***@127.0.0.1:{mariadb_server.port}/agents" in result.err
    assert "Access denied for user 'nosuch'@'127.0.0.1' (using password: YES)" in result.err
    assert "hunter22" not in result.text


# -- libpq's parameters -----------------------------------------------------------------------------


def test_postgresql_parameters_pass_through(postgres_server: PostgresServer, cli: Cli) -> None:
    database = _pg_database(postgres_server)
    port = postgres_server.port
    for query in (
        "sslmode=disable&application_name=nocodo%20test&connect_timeout=5&keepalives=1",
        "target_session_attrs=read-write&options=-c%20work_mem%3D8MB",
        "sslmode=prefer&gssencmode=disable&channel_binding=prefer&client_encoding=UTF8",
    ):
        result = cli("migrate", "--db", f"postgresql://postgres@127.0.0.1:{port}/{database}?{query}")
        assert result.code == 0, result.text
    # two hosts (libpq tries them in turn): the first one refuses, the second is the server
    assert cli("status", "--db", f"postgresql://postgres@127.0.0.1:1,127.0.0.1:{port}/{database}").code == 0


@pytest.mark.parametrize(
    "query, env, problem",
    [
        ("sslmode=bogus", {}, "the parameter sslmode: 'bogus' is not one of disable, allow, prefer, require, verify-ca, verify-full"),
        ("bogus=1", {}, 'invalid URI query parameter: "bogus"'),
        ("sslmode", {}, "libpq cannot read it"),
        ("target_session_attrs=primary-ish", {}, "the parameter target_session_attrs"),
        ("connect_timeout=soon", {}, "the parameter connect_timeout: 'soon' is not a whole number"),
        ("keepalives_idle=1.5", {}, "the parameter keepalives_idle"),
        ("port=99999", {}, "the parameter port: a port is not a number from 1 to 65535"),
        ("replication=database", {}, "a replication connection cannot run migrations"),
        ("client_encoding=LATIN1", {}, "the parameter client_encoding"),
        ("require_auth=kerberos", {}, "the parameter require_auth"),
        ("ssl_min_protocol_version=SSLv3", {}, "the parameter ssl_min_protocol_version"),
        ("", {"PGSSLMODE": "bogus"}, "the environment variable PGSSLMODE (libpq's sslmode): 'bogus' is not one of"),
        ("", {"PGCONNECT_TIMEOUT": "soon"}, "the environment variable PGCONNECT_TIMEOUT"),
    ],
)
def test_postgresql_parameters_libpq_would_refuse_exit_2(postgres_server: PostgresServer, cli: Cli, query: str, env: dict, problem: str) -> None:
    url = f"postgresql://postgres:hunter22@127.0.0.1:{postgres_server.port}/postgres?{query}".rstrip("?")
    result = cli("status", "-vv", "--db", url, env=env)
    assert result.code == 2, result.text
    assert problem in result.err and "hunter22" not in result.text and "Traceback" not in result.text


def test_postgresql_sslmode_require_against_a_server_without_tls_exits_6(postgres_server: PostgresServer, cli: Cli) -> None:
    database = _pg_database(postgres_server)
    result = cli("migrate", "--db", f"postgresql://postgres@127.0.0.1:{postgres_server.port}/{database}?sslmode=require")
    assert result.code == 6 and "SSL was required" in result.err, result.text
    assert _pg_tables(postgres_server, database) == []
