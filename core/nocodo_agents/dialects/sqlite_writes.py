"""SQLite connections made safe to write with: what is refused before the first write, and the pragmas pinned for it.

The caller's values of the pinned pragmas are kept and put back when the
session ends (:meth:`~nocodo_agents.dialects.sqlite.SQLiteDialect.session`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from ..errors import ConnectionStateError, DatabaseAccessError

#: Pragmas that change what a migration's SQL does, pinned to these values for the runner's writes
#: and restored afterwards. ``foreign_keys`` above all: with enforcement on, the DROP of SQLite's
#: documented table rebuild cascades to every child row (and PRAGMA foreign_keys is a no-op once a
#: transaction is open, so it is switched before the runner's first transaction).
_PINNED_FOR_WRITES = {
    "foreign_keys": 0,
    "legacy_alter_table": 0,
    "recursive_triggers": 0,
    "reverse_unordered_selects": 0,
    "ignore_check_constraints": 0,
    "writable_schema": 0,
}
#: One statement reading, before the first write, query_only and every pinned pragma (as
#: ``('pragma', name, value)``), and what else the connection sees besides main: attached
#: databases and TEMP objects (as ``(kind, name, NULL)``).
_WRITE_CONDITIONS = " UNION ALL ".join(
    [f"SELECT 'pragma', '{name}', * FROM pragma_{name}" for name in ("query_only", *_PINNED_FOR_WRITES)]
    + [
        "SELECT 'journal_mode', journal_mode, (SELECT file FROM pragma_database_list WHERE name = 'main') FROM pragma_journal_mode",
        "SELECT 'database', name, NULL FROM pragma_database_list WHERE name NOT IN ('main', 'temp')",
        "SELECT type, name, NULL FROM temp.sqlite_master",
    ]
)


class PinnedPragmas:
    """The part of :class:`~nocodo_agents.dialects.sqlite.SQLiteDialect` that prepares the connection for writes."""

    #: The connection's pragma values when the session began, where the runner changed them.
    _changed_pragmas: Dict[str, int]
    #: Pragma values read from the connection (``busy_timeout``, ``query_only`` and the pinned ones).
    _settings: Dict[str, int]
    _writes_prepared: bool

    if TYPE_CHECKING:  # provided by the dialect

        def _query(self, sql: str, params: Optional[Sequence[Any]] = None) -> List[Any]: ...

        def _run(self, sql: str, params: Optional[Sequence[Any]] = None) -> None: ...

        def location(self) -> str: ...

    def _prepare_writes(self) -> None:
        """Before the first write of the session: refuse what would mislead migrations, pin the pragmas.

        Runs outside any transaction (``PRAGMA foreign_keys`` does nothing
        inside one).
        """
        foreign = []
        journal_mode, main_file = "delete", ""
        for kind, name, value in self._query(_WRITE_CONDITIONS):
            if kind == "pragma":
                self._settings[name] = int(value)
            elif kind == "journal_mode":
                journal_mode, main_file = str(name).lower(), str(value or "")
            else:
                foreign.append((kind, name))
        if journal_mode == "off" or (journal_mode == "memory" and main_file):
            raise ConnectionStateError(
                problem=f"the sqlite3 connection has PRAGMA journal_mode = {journal_mode.upper()}: "
                + (
                    "SQLite cannot roll back then, so a failing migration would stay half-applied"
                    if journal_mode == "off"
                    else "a process that dies mid-migration would likely leave the file corrupt"
                )
                + f". Nothing was changed. Run the migrations on a connection with the default journal mode "
                f"(DELETE) or WAL ({self.location()})."
            )
        if self._settings["query_only"]:
            raise DatabaseAccessError(
                database=self.location(),
                problem="the connection has PRAGMA query_only = ON, so it may not write: nothing was changed. Run "
                "the migrations on a connection that may write.",
            )
        if foreign:
            listed = ", ".join(f"{kind} {name}" for kind, name in foreign)
            raise ConnectionStateError(
                problem=f"the sqlite3 connection sees more than its main database ({listed}): unqualified names "
                f"in migrations would resolve to TEMP objects first and could reach an attached database. "
                f"Nothing was changed. Run the migrations on a connection of their own (for example "
                f"nocodo_agents.Database(path), or a fresh sqlite3.connect(path)), or DETACH the databases "
                f"and drop the TEMP objects first."
            )
        for pragma, wanted in _PINNED_FOR_WRITES.items():
            if self._settings[pragma] != wanted:
                self._run(f"PRAGMA {pragma} = {wanted}")
                self._changed_pragmas[pragma] = self._settings[pragma]
        self._writes_prepared = True
