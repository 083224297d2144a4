"""Statements in a migration's SQL that would change the connection's session state, and MySQL's restorable ones.

A migration runs on the caller's connection, in the session the runner
(and, afterwards, the caller) depends on. Session state a statement changes
outlives the migration's transaction: later migrations of the run, the
runner's next history lookup and the caller's own queries would all run
with it. :func:`find_session_change` finds, before anything runs, the first
statement whose change the runner cannot undo; :class:`SessionVariableGuard`
undoes the ones it can.

Refused (there is a transaction-scoped or explicit way to say the same):

* PostgreSQL: a session-level ``SET`` (``SET search_path``, ``SET SCHEMA``,
  ``SET ROLE``, ``SET SESSION AUTHORIZATION``, ``SET SESSION CHARACTERISTICS``;
  use ``SET LOCAL``), ``RESET``, ``DISCARD``, ``LISTEN``/``UNLISTEN``,
  ``PREPARE``/``DEALLOCATE``, and ``set_config(..., false)`` outside a
  ``CREATE`` (a function body runs later, when called).
* MySQL/MariaDB: ``USE``, ``SET ROLE``, ``SET SESSION TRANSACTION``, and
  ``SET`` of the session values that cannot be put back without pinning
  them (``timestamp``, ``insert_id``, ``last_insert_id``...).
* SQLite: ``ATTACH``/``DETACH``, and ``PRAGMA x = v`` / ``PRAGMA x(v)``
  for every pragma but ``user_version``, ``application_id`` (stored in the
  file, inside the transaction) and ``defer_foreign_keys`` (ends with the
  transaction); ``PRAGMA foreign_keys`` is allowed in a transactional
  migration, where SQLite ignores it (the runner already turns enforcement
  off), and refused in a ``transactional = False`` one, where it would apply.
* Every dialect: a ``TEMP``/``TEMPORARY`` table, view, trigger or sequence
  the migration creates and does not drop itself (PostgreSQL's
  ``ON COMMIT DROP`` drops it), since unqualified names resolve to it first.

Made safe: MySQL session system variables (``SET FOREIGN_KEY_CHECKS = 0``,
``SET sql_mode = ...``, ``SET NAMES ...``, as mysqldump writes them) are
saved by :class:`SessionVariableGuard` into user variables before the first
statement assigning each, and restored in one statement after the
migration's last (also when it fails). A migration assigning none costs no
statement.

Allowed as harmless: PostgreSQL ``SET LOCAL``, ``SET TRANSACTION``,
``SET CONSTRAINTS``; MySQL ``SET @user_var``, ``SET TRANSACTION`` (the next
transaction only), ``SET GLOBAL``/``PERSIST`` (server settings, not the
session), MariaDB's ``SET STATEMENT ... FOR``; SQLite pragmas without a
value (reads and checks such as ``PRAGMA foreign_key_check``) and
``PRAGMA table_info(t)``-style queries.

Not seen: session changes made inside stored programs (``CALL``, a
PL/pgSQL ``DO`` block's ``SET``, MariaDB's ``BEGIN NOT ATOMIC`` block), or
through dynamic SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .code_words import code_words, first_word, qualified_name
from .mysql_session import SessionVariableGuard, classify_mysql_set, session_variables
from .session_reasons import ADVICE, REASONS

__all__ = ["ADVICE", "REASONS", "SessionChange", "SessionVariableGuard", "find_session_change", "session_variables"]

#: SQLite pragmas a migration may set: stored in the file (in the transaction), or ended with it.
_SQLITE_SETTABLE = frozenset({"user_version", "application_id", "defer_foreign_keys"})
#: SQLite pragmas whose argument names what to read or check, not a new setting.
_SQLITE_QUERIES = frozenset(
    {
        "table_info", "table_xinfo", "table_list", "index_info", "index_xinfo", "index_list", "foreign_key_list",
        "foreign_key_check", "integrity_check", "quick_check", "incremental_vacuum", "wal_checkpoint", "optimize",
    }
)
#: The first words of the statements :func:`find_session_change` looks at closely, per dialect.
_WATCHED = {
    "sqlite": frozenset({"CREATE", "DROP", "PRAGMA", "ATTACH", "DETACH"}),
    "postgresql": frozenset({"CREATE", "DROP", "SET", "RESET", "DISCARD", "LISTEN", "UNLISTEN", "PREPARE", "DEALLOCATE"}),
    "mysql": frozenset({"CREATE", "DROP", "USE", "SET"}),
}
_TEMP_KINDS = frozenset({"TABLE", "VIEW", "TRIGGER", "SEQUENCE"})
_TEMP_SCHEMAS = ("temp", "pg_temp")


@dataclass(frozen=True)
class SessionChange:
    """A refused statement: its position in the migration, its text, what it changes, and what it names."""

    index: int
    statement: str
    kind: str
    subject: str = ""

    @property
    def reason(self) -> str:
        """What the statement would do to the session."""
        return REASONS[self.kind].format(subject=self.subject)

    @property
    def advice(self) -> str:
        """What to write instead."""
        return ADVICE[self.kind]


def find_session_change(statements: Sequence[str], dialect: str, *, transactional: bool = True) -> SessionChange | None:
    """The first statement of ``statements`` (split for ``dialect``) whose session change the runner cannot undo.

    Temporary objects are followed in order: one created and dropped by the
    same statement list passes; one left behind is reported at its CREATE.
    """
    temporary: dict[str, tuple[int, str]] = {}
    watched = _WATCHED.get(dialect, frozenset())
    for index, statement in enumerate(statements):
        first = first_word(statement, dialect)
        if not first:
            continue
        if first not in watched and not (dialect == "postgresql" and "set_config" in statement.lower()):
            continue  # most statements (INSERT of many rows...) are never tokenized in full
        if first == "CREATE" and "temp" not in statement.lower():
            continue  # neither TEMP nor TEMPORARY nor a temp / pg_temp schema: no temporary object, nothing else to see
        words = list(code_words(statement, dialect))
        if first == "CREATE":
            created = _temporary_object(words, dialect)
            if created is not None:
                temporary.setdefault(created, (index, statement))
                continue
        elif first == "DROP":
            for name in _dropped(words):
                temporary.pop(name, None)
            continue
        kind, subject = _classify(words, dialect, transactional)
        if kind is not None:
            return SessionChange(index, statement, kind, subject)
    if temporary:
        name, (index, statement) = min(temporary.items(), key=lambda item: item[1][0])
        return SessionChange(index, statement, "temp_object", name)
    return None


def _classify(words: list[str], dialect: str, transactional: bool) -> tuple[str | None, str]:
    """``(kind, subject)`` of one statement's tokens; ``(None, "")`` if the runner allows (or restores) it."""
    upper = [w.upper() for w in words]
    first, second = upper[0], upper[1] if len(upper) > 1 else ""
    if dialect == "postgresql":
        if first == "SET":
            return _postgresql_set(words, upper)
        if first == "RESET":
            return "pg_reset", ""
        if first == "DISCARD":
            return "pg_discard", ""
        if first in ("LISTEN", "UNLISTEN"):
            return "pg_listen", ""
        if (first == "PREPARE" and second != "TRANSACTION") or first == "DEALLOCATE":
            return "pg_prepare", ""
        if first != "CREATE" and _sets_config_for_session(words):
            return "pg_set_config", ""
    elif dialect == "mysql":
        if first == "USE":
            return "mysql_use", words[1] if len(words) > 1 else ""
        if first == "SET":
            kind, subject, _ = classify_mysql_set(words, upper)
            return kind, subject
    elif dialect == "sqlite":
        if first in ("ATTACH", "DETACH"):
            return "sqlite_attach", ""
        if first == "PRAGMA":
            return _sqlite_pragma(words, transactional)
    return None, ""


def _postgresql_set(words: list[str], upper: list[str]) -> tuple[str | None, str]:
    second = upper[1] if len(upper) > 1 else ""
    if second in ("LOCAL", "TRANSACTION", "CONSTRAINTS"):
        return None, ""
    rest = upper[2:] if second == "SESSION" else upper[1:]
    named = words[2:] if second == "SESSION" else words[1:]
    head = rest[0] if rest else ""
    if head in ("ROLE", "AUTHORIZATION"):
        return "pg_role", "SESSION AUTHORIZATION" if head == "AUTHORIZATION" else "ROLE"
    if head == "CHARACTERISTICS":
        return "pg_set", "SESSION CHARACTERISTICS"
    if head == "TIME" and rest[1:2] == ["ZONE"]:
        return "pg_set", "TIME ZONE"
    return "pg_set", named[0] if named else ""


def _sets_config_for_session(words: list[str]) -> bool:
    """Whether a statement calls ``set_config(name, value, is_local)`` with anything but a literal ``true``."""
    for position, word in enumerate(words[:-1]):
        if word.lower().rpartition(".")[2] != "set_config" or words[position + 1] != "(":
            continue
        depth = 0
        last_argument: list[str] = []
        for token in words[position + 1 :]:
            if token == "(":
                depth += 1
                if depth == 1:
                    continue
            elif token == ")":
                depth -= 1
                if depth == 0:
                    break
            elif token == "," and depth == 1:
                last_argument = []
                continue
            last_argument.append(token)
        if [t.lower() for t in last_argument] != ["true"]:
            return True
    return False


def _sqlite_pragma(words: list[str], transactional: bool) -> tuple[str | None, str]:
    if len(words) < 2:
        return None, ""
    parts, after = qualified_name(words, 1)  # main.foreign_keys, "main"."foreign_keys"...
    name = parts[-1].lower() if parts else ""
    if words[after : after + 1] not in (["="], ["("]):
        return None, ""  # no value: a read, a check, or an action on the file
    if name in _SQLITE_SETTABLE or name in _SQLITE_QUERIES:
        return None, ""
    if name == "foreign_keys":
        return (None, "") if transactional else ("sqlite_foreign_keys_outside", name)
    return "sqlite_pragma", name


def _temporary_object(words: list[str], dialect: str) -> str | None:
    """The name of the temporary object a ``CREATE`` statement makes (see :func:`_object_name`), if it makes one."""
    upper = [w.upper() for w in words]
    position = 1
    if upper[position : position + 2] == ["OR", "REPLACE"]:
        position += 2
    if upper[position : position + 1] in (["GLOBAL"], ["LOCAL"]):
        position += 1
    temporary = upper[position : position + 1] in (["TEMP"], ["TEMPORARY"])
    if temporary:
        position += 1
    if upper[position : position + 1] == ["UNLOGGED"] or position >= len(upper) or upper[position] not in _TEMP_KINDS:
        return None
    position += 1
    if upper[position : position + 3] == ["IF", "NOT", "EXISTS"]:
        position += 3
    parts, _ = qualified_name(words, position)
    if not parts:
        return None
    if not temporary and (len(parts) < 2 or parts[-2].lower() not in _TEMP_SCHEMAS):
        return None
    if dialect == "postgresql" and _follows(upper, ["ON", "COMMIT", "DROP"]):
        return None
    return _object_name(parts)


def _dropped(words: list[str]) -> list[str]:
    """The names a ``DROP [TEMPORARY] TABLE|VIEW|TRIGGER|SEQUENCE [IF EXISTS] a, b`` drops."""
    upper = [w.upper() for w in words]
    position = 1
    if upper[position : position + 1] == ["TEMPORARY"]:
        position += 1
    if upper[position : position + 1] not in [[kind] for kind in _TEMP_KINDS]:
        return []
    position += 1
    if upper[position : position + 2] == ["IF", "EXISTS"]:
        position += 2
    names = []
    while position < len(words):
        if words[position] == ",":
            position += 1
            continue
        if words[position].upper() in ("CASCADE", "RESTRICT", "ON"):
            break
        parts, position = qualified_name(words, position)
        if not parts:
            break  # ; ( or the end
        names.append(_object_name(parts))
    return names


def _object_name(parts: list[str]) -> str:
    """An object's name without a ``temp.`` / ``pg_temp.`` schema (a name in another schema keeps its own)."""
    if len(parts) > 1 and parts[-2].lower() not in _TEMP_SCHEMAS:
        return ".".join(parts)
    return parts[-1]


def _follows(upper: list[str], sequence: list[str]) -> bool:
    """Whether ``sequence`` occurs in ``upper`` as consecutive tokens."""
    width = len(sequence)
    return any(upper[i : i + width] == sequence for i in range(len(upper) - width + 1))
