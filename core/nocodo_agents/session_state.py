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

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Set, Tuple

from .transaction_control import _tokens, first_word

if TYPE_CHECKING:  # pragma: no cover
    from .dialects import Dialect

logger = logging.getLogger("nocodo_agents")

#: Why each kind of statement is refused (completing "statement N ..."); ``{subject}`` is what it names.
REASONS = {
    "pg_set": (
        "sets the session-level parameter {subject}, which outlives the migration's transaction: later "
        "migrations, the runner (search_path decides where it looks for its history) and the caller's "
        "connection afterwards would all run with it"
    ),
    "pg_role": (
        "changes the session's role or authorization ({subject}), which outlives the migration's transaction: "
        "later migrations, the runner and the caller's connection afterwards would run with its privileges"
    ),
    "pg_reset": "resets session parameters to their defaults, discarding the caller's settings for the rest of the run and afterwards",
    "pg_discard": "discards session state of the caller's connection (its temporary tables, prepared statements, plans or sequence state)",
    "pg_listen": "registers (or unregisters) the caller's connection for notifications, which outlives the migration",
    "pg_prepare": (
        "creates or deallocates a session-level prepared statement, which outlives the migration and can "
        "clash with the caller's or its driver's own"
    ),
    "pg_set_config": (
        "calls set_config() without is_local = true, which sets a session-level parameter that outlives the "
        "migration's transaction (later migrations, the runner and the caller's connection would run with it)"
    ),
    "mysql_use": (
        "makes another database current: the runner's history and journal, later migrations' unqualified "
        "names and the caller's connection would all point at it"
    ),
    "mysql_role": "changes the session's active roles, and so the privileges of later migrations, the runner and the caller's connection",
    "mysql_session_transaction": (
        "changes the characteristics (isolation level, read only) of every later transaction of the "
        "session, the runner's and the caller's"
    ),
    "mysql_unrestorable": (
        "sets the session value {subject}, which the runner cannot put back as it was (restoring a saved value "
        "would pin it)"
    ),
    "sqlite_pragma": (
        "sets PRAGMA {subject}: a migration may set only user_version, application_id and defer_foreign_keys "
        "(other pragmas change the connection, and the change outlives the migration: later migrations, the "
        "runner and the caller's connection afterwards would run with it)"
    ),
    "sqlite_foreign_keys_outside": (
        "sets PRAGMA foreign_keys in a migration declared `transactional = False`, where it takes effect and "
        "outlives the migration (later migrations would run with enforcement switched, and a table rebuild "
        "with enforcement on cascades its DROP to every child row)"
    ),
    "sqlite_attach": (
        "attaches or detaches a database on the caller's connection: later migrations, the runner and the "
        "caller's connection afterwards would see it"
    ),
    "temp_object": (
        "creates the temporary object {subject} and does not drop it: it outlives the migration on the "
        "connection, and unqualified names in later migrations and in the caller's queries would resolve "
        "to it first"
    ),
}

#: What to write instead, per kind.
ADVICE = {
    "pg_set": (
        "Use SET LOCAL (it ends with the migration's transaction), or schema-qualified names instead of "
        "search_path. SET LOCAL has no effect in a `transactional = False` migration: there, qualify names, "
        "or set the parameter for the role or database (ALTER ROLE/DATABASE ... SET) outside the migrations"
    ),
    "pg_role": (
        "Use SET LOCAL ROLE (it ends with the migration's transaction), or grant the privileges to the user "
        "that runs the migrations"
    ),
    "pg_reset": "Use SET LOCAL with the value the migration needs (it ends with the migration's transaction)",
    "pg_discard": "Remove the statement: a migration has no session state of its own to discard",
    "pg_listen": "Remove the statement: listen for notifications from the application, on a connection of its own",
    "pg_prepare": "Write the statement out instead of preparing it",
    "pg_set_config": "Pass true as set_config()'s third argument (is_local), or use SET LOCAL",
    "mysql_use": (
        "Qualify names with the database (other_db.t) instead; work on another database belongs on a "
        "connection of its own, outside the migrations"
    ),
    "mysql_role": "Grant the privileges to the user that runs the migrations",
    "mysql_session_transaction": "Remove the statement: the runner chooses how its transactions run",
    "mysql_unrestorable": "Remove the statement (or set the value in the statement that needs it, e.g. an explicit column value)",
    "sqlite_pragma": (
        "Remove the statement: set connection pragmas where the application opens the database, and do other "
        "work on a connection of its own. The runner itself runs migrations with foreign_keys, "
        "legacy_alter_table and recursive_triggers off, and restores the caller's settings afterwards"
    ),
    "sqlite_foreign_keys_outside": (
        "Remove the statement: the runner runs every migration with foreign-key enforcement off, restores the "
        "caller's setting afterwards, and checks foreign_key_check after each migration"
    ),
    "sqlite_attach": "Use a connection of its own for another database file, outside the migrations",
    "temp_object": (
        "Drop it at the end of the same migration (on PostgreSQL, CREATE TEMP TABLE ... ON COMMIT DROP does "
        "that), or make it a regular table"
    ),
}

#: MySQL ``SET NAMES`` / ``SET CHARACTER SET`` assign these session variables.
_CHARSET_VARIABLES = ("character_set_client", "character_set_connection", "character_set_results", "collation_connection")
#: MySQL session values that are state rather than settings: restoring a saved copy would pin them.
_UNRESTORABLE = frozenset(
    {"timestamp", "insert_id", "last_insert_id", "identity", "rand_seed1", "rand_seed2", "pseudo_thread_id", "gtid_next"}
)
#: Owned by :mod:`nocodo_agents.transaction_control`, which refuses them first.
_TRANSACTION_MODE = frozenset({"autocommit", "completion_type"})
_GLOBAL_SCOPES = frozenset({"GLOBAL", "PERSIST", "PERSIST_ONLY"})
_SESSION_SCOPES = frozenset({"SESSION", "LOCAL"})
_VARIABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")

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


def find_session_change(statements: Sequence[str], dialect: str, *, transactional: bool = True) -> Optional[SessionChange]:
    """The first statement of ``statements`` (split for ``dialect``) whose session change the runner cannot undo.

    Temporary objects are followed in order: one created and dropped by the
    same statement list passes; one left behind is reported at its CREATE.
    """
    temporary: Dict[str, Tuple[int, str]] = {}
    watched = _WATCHED.get(dialect, frozenset())
    for index, statement in enumerate(statements):
        first = first_word(statement, dialect)
        if not first:
            continue
        if first not in watched and not (dialect == "postgresql" and "set_config" in statement.lower()):
            continue  # most statements (INSERT of many rows...) are never tokenized in full
        words = list(_tokens(statement, dialect))
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


def _classify(words: List[str], dialect: str, transactional: bool) -> Tuple[Optional[str], str]:
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
            kind, subject, _ = _mysql_set(words, upper)
            return kind, subject
    elif dialect == "sqlite":
        if first in ("ATTACH", "DETACH"):
            return "sqlite_attach", ""
        if first == "PRAGMA":
            return _sqlite_pragma(words, transactional)
    return None, ""


def _postgresql_set(words: List[str], upper: List[str]) -> Tuple[Optional[str], str]:
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


def _sets_config_for_session(words: List[str]) -> bool:
    """Whether a statement calls ``set_config(name, value, is_local)`` with anything but a literal ``true``."""
    for position, word in enumerate(words[:-1]):
        if word.lower().rpartition(".")[2] != "set_config" or words[position + 1] != "(":
            continue
        depth = 0
        last_argument: List[str] = []
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


def _mysql_set(words: List[str], upper: List[str]) -> Tuple[Optional[str], str, Tuple[str, ...]]:
    """``(refused kind, subject, session variables assigned)`` of a MySQL ``SET`` statement."""
    head = upper[1] if len(upper) > 1 else ""
    after = upper[2] if len(upper) > 2 else ""
    assigns = after in ("=", ":=")
    if head in _SESSION_SCOPES and after == "TRANSACTION":
        return "mysql_session_transaction", "", ()
    if head == "ROLE" and not assigns:
        return "mysql_role", "", ()
    if head in ("TRANSACTION", "PASSWORD", "STATEMENT", "RESOURCE") or (head == "DEFAULT" and after == "ROLE"):
        return None, "", ()
    if head in _GLOBAL_SCOPES and after == "TRANSACTION":
        return None, "", ()
    variables: List[str] = []
    for assignment in _assignments(words[1:]):
        for name in _charset_variables(assignment) or (_session_variable(assignment),):
            if name is None or name in _TRANSACTION_MODE:
                continue
            if name in _UNRESTORABLE or not _VARIABLE_NAME.match(name):
                return "mysql_unrestorable", name, ()
            if name not in variables:
                variables.append(name)
    return None, "", tuple(variables)


def _charset_variables(assignment: List[str]) -> Tuple[str, ...]:
    """The variables ``NAMES x`` / ``CHARACTER SET x`` / ``CHARSET x`` assign (none for another assignment)."""
    upper = [w.upper() for w in assignment[:2]]
    if upper[1:2] in (["="], [":="]):
        return ()
    if upper[:1] in (["NAMES"], ["CHARSET"]) or upper == ["CHARACTER", "SET"]:
        return _CHARSET_VARIABLES
    return ()


def _assignments(words: List[str]) -> List[List[str]]:
    """The comma-separated assignments of a ``SET`` (commas inside parentheses belong to values)."""
    found: List[List[str]] = [[]]
    depth = 0
    for token in words:
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif token == "," and depth == 0:
            found.append([])
            continue
        found[-1].append(token)
    return [a for a in found if a]


def _session_variable(assignment: List[str]) -> Optional[str]:
    """The session system variable one assignment sets (lower case), or ``None`` (a user or global variable)."""
    scope = "SESSION"
    position = 0
    if assignment[0].upper() in _GLOBAL_SCOPES | _SESSION_SCOPES:
        scope = assignment[0].upper()
        position = 1
    if position >= len(assignment) or assignment[position + 1 : position + 2] not in (["="], [":="]):
        return None
    name = assignment[position]
    if name.startswith("@@"):
        name = name[2:]
        prefix, dot, rest = name.partition(".")
        if dot and prefix.upper() in _GLOBAL_SCOPES | _SESSION_SCOPES:
            scope, name = prefix.upper(), rest
    elif name.startswith("@"):
        return None
    if scope in _GLOBAL_SCOPES:
        return None
    return name.strip("`").lower()


def _sqlite_pragma(words: List[str], transactional: bool) -> Tuple[Optional[str], str]:
    if len(words) < 2:
        return None, ""
    name = words[1].rpartition(".")[2].strip('"`[]').lower()
    if words[2:3] not in (["="], ["("]):
        return None, ""  # no value: a read, a check, or an action on the file
    if name in _SQLITE_SETTABLE or name in _SQLITE_QUERIES:
        return None, ""
    if name == "foreign_keys":
        return (None, "") if transactional else ("sqlite_foreign_keys_outside", name)
    return "sqlite_pragma", name


def _temporary_object(words: List[str], dialect: str) -> Optional[str]:
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
    if position >= len(words):
        return None
    schema, _, _ = words[position].rpartition(".")
    if not temporary and schema.strip('"').lower() not in _TEMP_SCHEMAS:
        return None
    if dialect == "postgresql" and _follows(upper, ["ON", "COMMIT", "DROP"]):
        return None
    return _object_name(words[position])


def _dropped(words: List[str]) -> List[str]:
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
    for word in words[position:]:
        if word == ",":
            continue
        if word in (";", "(") or word.upper() in ("CASCADE", "RESTRICT", "ON"):
            break
        names.append(_object_name(word))
    return names


def _object_name(word: str) -> str:
    """An object's name without a ``temp.`` / ``pg_temp.`` schema, compared as the servers do."""
    schema, dot, name = word.rpartition(".")
    if not dot or schema.strip('"`[]').lower() not in _TEMP_SCHEMAS:
        name = word
    if name[:1] in ('"', "`", "["):
        return name[1:-1]
    return name.lower()


def _follows(upper: List[str], sequence: List[str]) -> bool:
    """Whether ``sequence`` occurs in ``upper`` as consecutive tokens."""
    width = len(sequence)
    return any(upper[i : i + width] == sequence for i in range(len(upper) - width + 1))


def session_variables(statement: str, dialect: str) -> Tuple[str, ...]:
    """The MySQL session system variables ``statement`` assigns (none on other dialects, or if it is refused)."""
    if dialect != "mysql" or first_word(statement, dialect) != "SET":
        return ()
    words = list(_tokens(statement, dialect))
    kind, _, variables = _mysql_set(words, [w.upper() for w in words])
    return () if kind is not None else variables


class SessionVariableGuard:
    """Saves the MySQL session variables a migration's statements assign, and restores them afterwards.

    :meth:`execute` runs one statement of the migration; before a statement
    assigning a session variable not saved yet, it copies the variable into
    a user variable (one statement), and after the statement succeeded it
    marks the variable for restoring (a variable without a session value is
    left alone, see :meth:`_save`). :meth:`restore` puts every marked
    variable back and clears the user variables (one statement; none if no
    statement assigned a session variable).
    """

    #: The user variables holding saved values are named this plus a number.
    PREFIX = "@nocodo_agents_saved_"

    def __init__(self, dialect: "Dialect") -> None:
        self.dialect = dialect
        #: variable -> the user variable holding its value from before the migration.
        self._saved: Dict[str, str] = {}
        #: Variables a statement of the migration has changed, in the order they were first saved.
        self._changed: List[str] = []
        #: Variables that have no session value to save (see :meth:`_save`).
        self._unsaved: Set[str] = set()

    def execute(self, statement: str) -> None:
        """Run one statement of the migration, saving the session variables it assigns first."""
        assigned = [name for name in session_variables(statement, self.dialect.name) if name not in self._unsaved]
        new = [name for name in assigned if name not in self._saved]
        if new:
            self._save(new)
        self.dialect.execute(statement)
        self._changed.extend(name for name in assigned if name in self._saved and name not in self._changed)

    def _save(self, names: List[str]) -> None:
        """Copy ``names`` into user variables: together, or one by one if that fails.

        A variable without a session value (MariaDB sets a global-only one
        named without ``GLOBAL`` globally) or one the server does not know
        cannot be saved: it is left to the statement, which succeeds or fails
        on its own, and is not restored.
        """
        holders = {name: f"{self.PREFIX}{len(self._saved) + i}" for i, name in enumerate(names)}
        try:
            self.dialect.execute("SET " + ", ".join(f"{holders[name]} = @@SESSION.{name}" for name in names))
            self._saved.update(holders)
            return
        except Exception:
            if len(names) == 1:
                self._unsaved.add(names[0])
                return
        for name in names:
            self._save([name])

    def restore(self, *, quietly: bool = False) -> None:
        """Put every variable a statement changed back as it was; ``quietly`` logs a failure instead of raising."""
        if not self._saved:
            return
        # A character set resets its collation: collations go last so the saved one wins.
        changed = sorted(self._changed, key=lambda name: name.startswith("collation_"))
        assignments = [f"@@SESSION.{name} = {self._saved[name]}" for name in changed]
        assignments += [f"{holder} = NULL" for holder in self._saved.values()]
        self._saved, self._changed = {}, []
        try:
            self.dialect.execute("SET " + ", ".join(assignments))
        except Exception as error:
            if not quietly:
                raise
            logger.warning(
                "could not restore the session variables %s after a failed migration: %s; the connection may keep "
                "the migration's values", ", ".join(changed), error,
            )
