"""Private PostgreSQL, MariaDB and PgBouncer instances for the tests.

Each server runs from a temporary directory on 127.0.0.1 and a free port,
and is stopped afterwards. PostgreSQL and PgBouncer refuse to run as root,
so under root (as in CI) they run as the ``postgres`` user Debian's package
creates. Under CI (``CI`` set) and under ``bash tests/run.sh`` (which installs
the servers first) a missing server binary is a failure; run by pytest directly
on a machine without it, the tests are skipped with the reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unavailable(reason: str) -> None:
    """Fail under CI and under ``bash tests/run.sh`` (which installs the servers first), skip elsewhere.

    ``tests/run.sh`` sets ``NOCODO_TESTS_SERVERS=required`` once ``tests/servers.sh``
    has installed them (or ``skip`` when asked to run without them).
    """
    if os.environ.get("CI") or os.environ.get("NOCODO_TESTS_SERVERS") == "required":
        pytest.fail(f"{reason} (every server test must run: `sudo bash tests/servers.sh` installs the servers)")
    pytest.skip(reason)


def _find(names: list[str], patterns: list[str]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches[-1]
    return None


def _as_user(user: str | None) -> Callable[[], None] | None:
    if user is None:
        return None
    record = pwd.getpwnam(user)

    def demote() -> None:
        os.setgid(record.pw_gid)
        os.setuid(record.pw_uid)

    return demote


def _service_user() -> str | None:
    """``postgres`` when running as root (PostgreSQL and PgBouncer refuse root), else nobody to switch to."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        unavailable("running as root but there is no 'postgres' user to run PostgreSQL as")
    return "postgres"


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text() if log.exists() else ''}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port} within {seconds} s:\n{log.read_text() if log.exists() else ''}")


def _stop(process: subprocess.Popen | None, sig: int, timeout: float) -> None:
    """Ask a server to stop with ``sig``; kill it if it has not stopped after ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _restart(launch: Callable[[], None], previous: subprocess.Popen | None, attempts: int = 20) -> None:
    """Reap the previous server process, then ``launch`` until it starts.

    After a SIGKILL the server's children (or the port) may linger a moment,
    so a start that fails is retried.
    """
    if previous is not None:
        previous.wait(timeout=60)
    for attempt in range(attempts):
        try:
            launch()
            return
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


class PostgresServer:
    """``initdb`` + ``postgres`` in a temporary directory, trust authentication for user ``postgres``."""

    user = "postgres"
    host = "127.0.0.1"

    def __init__(self) -> None:
        bindir = os.path.dirname(_find(["initdb"], ["/usr/lib/postgresql/*/bin/initdb"]) or "")
        if not bindir or not os.path.exists(os.path.join(bindir, "postgres")):
            unavailable("PostgreSQL server binaries (initdb, postgres) not found: apt-get install postgresql")
        self.bindir = bindir
        self.os_user = _service_user()
        self.root = Path(tempfile.mkdtemp(prefix="nocodo-pg-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> PostgresServer:
        if self.os_user:
            record = pwd.getpwnam(self.os_user)
            os.chown(self.root, record.pw_uid, record.pw_gid)
        data = self.root / "data"
        subprocess.run(
            [os.path.join(self.bindir, "initdb"), "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, preexec_fn=_as_user(self.os_user), cwd=self.root,
        )
        self._launch()
        return self

    def _launch(self) -> None:
        log = self.root / "server.log"
        self.process = subprocess.Popen(
            [
                os.path.join(self.bindir, "postgres"), "-D", str(self.root / "data"), "-p", str(self.port), "-k", str(self.root),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200",
            ],
            stdout=open(log, "ab"), stderr=subprocess.STDOUT, preexec_fn=_as_user(self.os_user), cwd=self.root,
        )
        _wait_for_port(self.port, self.process, log)
        self._wait_ready()

    def restart(self) -> PostgresServer:
        """Start again on the same data directory and port, once the previous server has stopped or been killed."""
        _restart(self._launch, self.process)
        return self

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.dsn("postgres")).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def dsn(self, database: str, port: int | None = None) -> str:
        return f"host={self.host} port={port or self.port} user={self.user} dbname={database}"

    def url(self, database: str, port: int | None = None) -> str:
        return f"postgresql://{self.user}@{self.host}:{port or self.port}/{database}"

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        _stop(self.process, signal.SIGINT, timeout=30)  # PostgreSQL's fast shutdown
        shutil.rmtree(self.root, ignore_errors=True)


class PgBouncer:
    """PgBouncer in transaction pooling mode in front of a :class:`PostgresServer`."""

    def __init__(self, server: PostgresServer, pool_size: int = 4, query_wait_timeout: int = 120) -> None:
        """``pool_size``: server connections per database and user; ``query_wait_timeout``: seconds a client may queue."""
        binary = _find(["pgbouncer"], ["/usr/sbin/pgbouncer"])
        if binary is None:
            unavailable("pgbouncer not found: apt-get install pgbouncer")
        self.binary = binary
        self.server = server
        self.pool_size = pool_size
        self.query_wait_timeout = query_wait_timeout
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="nocodo-pgbouncer-"))
        self.process: subprocess.Popen | None = None

    def start(self) -> PgBouncer:
        (self.root / "users.txt").write_text(f'"{self.server.user}" ""\n')
        config = self.root / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.server.port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.root / 'users.txt'}\n"
            f"pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = {self.pool_size}\n"
            f"query_wait_timeout = {self.query_wait_timeout}\n"
            f"logfile = {self.root / 'pgbouncer.log'}\npidfile = {self.root / 'pgbouncer.pid'}\n"
        )
        os_user = _service_user()
        if os_user:
            record = pwd.getpwnam(os_user)
            for path in [self.root, *self.root.iterdir()]:
                os.chown(path, record.pw_uid, record.pw_gid)
        log = self.root / "stdout.log"
        self.process = subprocess.Popen(
            [self.binary, str(config)], stdout=open(log, "ab"), stderr=subprocess.STDOUT, preexec_fn=_as_user(os_user)
        )
        _wait_for_port(self.port, self.process, self.root / "pgbouncer.log")
        return self

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM, timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


class MariaDBServer:
    """``mariadb-install-db`` + ``mariadbd`` in a temporary directory; user root without password."""

    user = "root"
    host = "127.0.0.1"

    def __init__(self, options: Sequence[str] = ()) -> None:
        #: Extra ``mariadbd`` options, after (so overriding) the defaults, e.g. durable commits for crash tests.
        self.options = list(options)
        self.install = _find(["mariadb-install-db", "mysql_install_db"], [])
        self.daemon = _find(["mariadbd", "mysqld"], ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"])
        if self.install is None or self.daemon is None:
            unavailable("MariaDB server binaries (mariadb-install-db, mariadbd) not found: apt-get install mariadb-server")
        self.root = Path(tempfile.mkdtemp(prefix="nocodo-mariadb-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def _common(self) -> list[str]:
        user = ["--user=root"] if os.geteuid() == 0 else []
        # a tmpdir of its own: internal temporary tables never meet another server's files in /tmp
        (self.root / "tmp").mkdir(exist_ok=True)
        return ["--no-defaults", f"--datadir={self.root / 'data'}", f"--tmpdir={self.root / 'tmp'}", *user]

    def start(self) -> MariaDBServer:
        subprocess.run(
            [self.install, *self._common(), "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True, cwd=self.root,
        )
        self._launch()
        return self

    def _launch(self) -> None:
        log = self.root / "server.log"
        self.process = subprocess.Popen(
            [
                self.daemon, *self._common(), f"--port={self.port}", "--bind-address=127.0.0.1",
                f"--socket={self.root / 'mysqld.sock'}", f"--pid-file={self.root / 'mysqld.pid'}",
                f"--log-error={log}", "--skip-name-resolve", "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0", "--max-connections=200", *self.options,
            ],
            stdout=open(self.root / "stdout.log", "ab"), stderr=subprocess.STDOUT, cwd=self.root,
        )
        _wait_for_port(self.port, self.process, log)
        self._wait_ready()

    def restart(self) -> MariaDBServer:
        """Start again on the same data directory and port, once the previous server has stopped or been killed."""
        _restart(self._launch, self.process)
        return self

    def connect(self, database: str | None = None):  # type: ignore[no-untyped-def]
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user, password="", database=database)

    def _wait_ready(self) -> None:
        import pymysql

        deadline = time.monotonic() + 30
        while True:
            try:
                self.connect().close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def url(self, database: str) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE `{name}`")
        finally:
            connection.close()

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
