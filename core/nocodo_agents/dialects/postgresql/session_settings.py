"""The caller's PostgreSQL session, checked before the first write and put back as it was afterwards.

A session whose ``session_replication_role`` is not ``origin`` (which
switches off foreign-key enforcement and ON DELETE actions) or whose
``standard_conforming_strings`` is off gets them set back to the defaults
with ``SET LOCAL`` in each write transaction, and for the session around a
migration outside a transaction; TEMP relations and a ``search_path``
naming no schema are refused. :class:`SessionSettings` is that part of
:class:`~nocodo_agents.dialects.postgresql.PostgreSQLDialect`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

from ...errors import ConnectionStateError


class SessionSettings:
    """Checking and pinning the session's settings (mixed into the dialect)."""

    connection: Any
    #: Session settings that change what migrations do, found changed: name -> (the caller's, the default).
    _pinned: dict[str, tuple[str, str]]
    #: Whether :attr:`_pinned` settings were set for the session (statements outside a transaction).
    _session_pinned: bool

    if TYPE_CHECKING:  # provided by the dialect

        def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[Any]: ...

        def _run(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

        def _restore(self, what: str, action: Callable[[], Any], quietly: bool) -> None: ...

        def transaction_open(self) -> bool: ...

        def location(self) -> str: ...

    def _restore_caller_state(self, autocommit: bool, encoding: str | None, quietly: bool) -> None:
        """Put back what the run changed on the caller's session: pinned settings, client_encoding, autocommit."""
        if self._session_pinned:
            self._session_pinned = False
            restore = "; ".join(f"SET {name} = {caller}" for name, (caller, _) in self._pinned.items())
            self._restore(", ".join(self._pinned), lambda: self._run(restore), quietly)
        if encoding is not None:
            self._restore(
                f"client_encoding = {encoding}",
                lambda: self._run("SELECT set_config('client_encoding', %s, false)", (encoding,)),
                quietly,
            )
        self._restore(f"autocommit={autocommit}", lambda: setattr(self.connection, "autocommit", autocommit), quietly)

    def execute(self, statement: str) -> None:
        """Run one statement of a migration; outside a transaction, under the settings each write sets back too.

        A ``transactional = False`` migration runs outside the write
        transactions whose ``SET LOCAL`` sets the caller's
        ``session_replication_role`` and ``standard_conforming_strings`` back
        to their defaults (see :meth:`_check_session_state`), so a caller's
        ``replica`` would switch off its foreign keys, and ``off`` change what
        its string literals mean: those settings are set for the session
        before its first statement (one statement, only when the caller
        changed them) and put back when the run ends. PgBouncer tracks
        ``standard_conforming_strings`` per client; ``session_replication_role``
        is set and put back on the same server connection only because no
        transaction boundary lies between (each statement in autocommit is its
        own transaction: behind PgBouncer in transaction mode, use a
        connection with the defaults).
        """
        if not self._session_pinned and self._pinned and not self.transaction_open():
            self._set_session_settings({name: wanted for name, (_, wanted) in self._pinned.items()})
            self._session_pinned = True
        self._run(statement)

    def _set_session_settings(self, values: dict[str, str]) -> None:
        """``SET`` (for the session) each setting in ``values``, in one statement; refused if the user may not."""
        import psycopg

        try:
            self._run("; ".join(f"SET {name} = {value}" for name, value in values.items()))
        except psycopg.errors.InsufficientPrivilege as error:
            outcome = "nothing of this migration ran (the migrations before it in this run stay applied)"
            raise self._cannot_set_back(error, outcome) from error

    def _current_schema(self) -> str:
        """``current_schema()`` quoted as the server quotes it; :class:`ConnectionStateError` if there is none."""
        schema, search_path = self._query("SELECT quote_ident(current_schema()), current_setting('search_path')")[0]
        if schema is None:
            raise self._no_schema_error(search_path)
        return str(schema)

    def _no_schema_error(self, search_path: str) -> ConnectionStateError:
        """The session's ``search_path`` names no schema that exists (``current_schema()`` is NULL)."""
        return ConnectionStateError(
            problem=f"the PostgreSQL session's search_path ({search_path!r}) names no schema that exists on "
            f"{self.location()}: the runner would not know where its history table lives, and a migration's "
            f"unqualified names would have nowhere to go. Nothing was changed. Set search_path to an existing "
            f"schema (SET search_path = public, or ALTER ROLE/DATABASE ... SET search_path for the command "
            f"line), or create the schema it names."
        )

    def _check_session_state(self) -> None:
        """Before the first write: refuse TEMP relations and a search_path naming no schema, note settings to set back.

        Unqualified names in migrations resolve to this session's TEMP
        relations first. A replication role of ``replica`` (or ``local``)
        disables the triggers that enforce foreign keys and run their ON
        DELETE actions, so a migration could leave child rows without their
        parent; ``standard_conforming_strings = off`` makes ``'C:\\temp'`` in a
        migration mean something else. Each write transaction sets them back
        to the defaults (SET LOCAL, so the caller's settings return at COMMIT).
        """
        role, strings, temporary, schema, search_path = self._query(
            "SELECT current_setting('session_replication_role'), current_setting('standard_conforming_strings'), "
            "ARRAY(SELECT relname::text FROM pg_class WHERE relnamespace = pg_my_temp_schema() ORDER BY relname), "
            "current_schema(), current_setting('search_path')"
        )[0]
        if schema is None:
            raise self._no_schema_error(search_path)
        self._pinned = {
            name: (value, wanted)
            for name, value, wanted in (
                ("session_replication_role", role, "origin"),
                ("standard_conforming_strings", strings, "on"),
            )
            if value != wanted
        }
        if temporary:
            raise ConnectionStateError(
                problem=f"the PostgreSQL session has temporary relations ({', '.join(temporary[:10])}): unqualified "
                f"names in migrations would resolve to them first. Nothing was changed. Run the migrations on "
                f"a connection of their own (behind PgBouncer in transaction mode, temporary tables of other "
                f"clients can be left on a server connection: drop them, or discard them with DISCARD TEMP)."
            )

    def _set_back_session_settings(self) -> None:
        """``SET LOCAL`` the settings :meth:`_check_session_state` found changed (one statement)."""
        import psycopg

        try:
            self._run("; ".join(f"SET LOCAL {name} = {wanted}" for name, (_, wanted) in self._pinned.items()))
        except psycopg.errors.InsufficientPrivilege as error:
            raise self._cannot_set_back(error) from error

    def _cannot_set_back(self, error: BaseException, outcome: str = "nothing was changed") -> ConnectionStateError:
        """The user may not set the :attr:`_pinned` settings back to their defaults; ``outcome`` says what ran."""
        found = ", ".join(f"{name} = {value}" for name, (value, _) in self._pinned.items())
        defaults = ", ".join(wanted for _, wanted in self._pinned.values())
        return ConnectionStateError(
            problem=f"the PostgreSQL session has {found}, which changes what migrations do (session_replication_role "
            f"switches off foreign-key enforcement and ON DELETE actions), and user "
            f"{self.connection.info.user!r} may not set it back to {defaults} ({str(error).strip()}): {outcome}. "
            f"Run the migrations on a connection with the defaults."
        )
