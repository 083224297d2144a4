"""SQLite: the history widened to 64-bit versions, by rebuilding the table (SQLite cannot change a column's type)."""

from __future__ import annotations

from ..history import HISTORY_TABLE
from .history_table import HistoryTableMixin

__all__ = ["HistoryWidening"]


class HistoryWidening(HistoryTableMixin):
    """The part of :class:`~nocodo_agents.dialects.sqlite.SQLiteDialect` that widens the history's ``version`` column to ``INT8``."""

    def widen_history(self) -> None:
        """Rebuild the history with ``version INT8`` (:meth:`widen_history_sql`), views and triggers reading it left working.

        The rebuild drops the table and renames its copy; SQLite (3.26 and
        later) checks every view and trigger when a table is renamed, and one
        reading the history (an operator's view of applied versions) names
        a table that is gone at that moment. ``legacy_alter_table`` skips that
        check for the rename; the view's text names the table, which exists
        again once the rename is done. The setting is the connection's as before afterwards.
        """
        legacy = int(self._query("PRAGMA legacy_alter_table")[0][0])
        if not legacy:
            self._run("PRAGMA legacy_alter_table = ON")
        try:
            super().widen_history()
        finally:
            if not legacy:
                self._run("PRAGMA legacy_alter_table = OFF")

    def widen_history_sql(self) -> list[str]:
        """SQLite cannot change a column's type: the table is rebuilt with ``version INT8`` (one transaction, rows kept).

        Every column keeps its declared type, ``NOT NULL``, default and
        primary key, as ``PRAGMA table_info`` gives them (one statement).
        """
        info = self._query(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?, 'main') ORDER BY cid", (HISTORY_TABLE,)
        )
        definitions, names, keys = [], [], []
        for name, declared, not_null, default, key in info:
            quoted = '"' + str(name).replace('"', '""') + '"'
            declared = "INT8" if str(name).lower() == "version" else str(declared or "")
            definitions.append(
                " ".join(part for part in (quoted, declared, "NOT NULL" if not_null else "", f"DEFAULT {default}" if default is not None else "") if part)
            )
            names.append(quoted)
            if key:
                keys.append((key, quoted))
        if keys:
            definitions.append("PRIMARY KEY (" + ", ".join(quoted for _, quoted in sorted(keys)) + ")")
        widened = "nocodo_agents_widened_history"
        listed = ", ".join(names)
        return [
            f"DROP TABLE IF EXISTS main.{widened}",
            f"CREATE TABLE main.{widened} ({', '.join(definitions)})",
            f"INSERT INTO main.{widened} ({listed}) SELECT {listed} FROM main.{HISTORY_TABLE}",
            f"DROP TABLE main.{HISTORY_TABLE}",
            f"ALTER TABLE main.{widened} RENAME TO {HISTORY_TABLE}",
        ]
