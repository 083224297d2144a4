"""MySQL's ``SET`` statements: which session variables they assign, which are refused, and the guard restoring them.

A MySQL migration may set session system variables (``SET FOREIGN_KEY_CHECKS = 0``,
``SET sql_mode = ...``, ``SET NAMES ...``, as mysqldump writes them):
:class:`SessionVariableGuard` saves each into a user variable before the first
statement assigning it and restores them all after the migration's last. The
values that are state rather than settings (``timestamp``, ``insert_id``...)
cannot be put back without pinning them: :func:`classify_mysql_set` refuses
them (see :mod:`.session_state`).
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

from .code_words import code_words, first_word

logger = logging.getLogger("nocodo_agents")

#: MySQL ``SET NAMES`` / ``SET CHARACTER SET`` assign these session variables.
_CHARSET_VARIABLES = ("character_set_client", "character_set_connection", "character_set_results", "collation_connection")
#: MySQL session values that are state rather than settings: restoring a saved copy would pin them.
_UNRESTORABLE = frozenset(
    {"timestamp", "insert_id", "last_insert_id", "identity", "rand_seed1", "rand_seed2", "pseudo_thread_id", "gtid_next"}
)
#: Owned by :mod:`.transaction_control`, which refuses them first.
_TRANSACTION_MODE = frozenset({"autocommit", "completion_type"})
_GLOBAL_SCOPES = frozenset({"GLOBAL", "PERSIST", "PERSIST_ONLY"})
_SESSION_SCOPES = frozenset({"SESSION", "LOCAL"})
_VARIABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


class StatementRunner(Protocol):
    """What :class:`SessionVariableGuard` needs: the dialect's name and a way to run one statement."""

    name: str

    def execute(self, statement: str) -> None:
        """Run one statement of a migration."""


def classify_mysql_set(words: list[str], upper: list[str]) -> tuple[str | None, str, tuple[str, ...]]:
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
    variables: list[str] = []
    for assignment in _assignments(words[1:]):
        for name in _charset_variables(assignment) or (_session_variable(assignment),):
            if name is None or name in _TRANSACTION_MODE:
                continue
            if name in _UNRESTORABLE or not _VARIABLE_NAME.match(name):
                return "mysql_unrestorable", name, ()
            if name not in variables:
                variables.append(name)
    return None, "", tuple(variables)


def _charset_variables(assignment: list[str]) -> tuple[str, ...]:
    """The variables ``NAMES x`` / ``CHARACTER SET x`` / ``CHARSET x`` assign (none for another assignment)."""
    upper = [w.upper() for w in assignment[:2]]
    if upper[1:2] in (["="], [":="]):
        return ()
    if upper[:1] in (["NAMES"], ["CHARSET"]) or upper == ["CHARACTER", "SET"]:
        return _CHARSET_VARIABLES
    return ()


def _assignments(words: list[str]) -> list[list[str]]:
    """The comma-separated assignments of a ``SET`` (commas inside parentheses belong to values)."""
    found: list[list[str]] = [[]]
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


def _session_variable(assignment: list[str]) -> str | None:
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


def session_variables(statement: str, dialect: str) -> tuple[str, ...]:
    """The MySQL session system variables ``statement`` assigns (none on other dialects, or if it is refused)."""
    if dialect != "mysql" or first_word(statement, dialect) != "SET":
        return ()
    words = list(code_words(statement, dialect))
    kind, _, variables = classify_mysql_set(words, [w.upper() for w in words])
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

    def __init__(self, dialect: StatementRunner) -> None:
        self.dialect = dialect
        #: variable -> the user variable holding its value from before the migration.
        self._saved: dict[str, str] = {}
        #: Variables a statement of the migration has changed, in the order they were first saved.
        self._changed: list[str] = []
        #: Variables that have no session value to save (see :meth:`_save`).
        self._unsaved: set[str] = set()

    def execute(self, statement: str) -> None:
        """Run one statement of the migration, saving the session variables it assigns first."""
        assigned = [name for name in session_variables(statement, self.dialect.name) if name not in self._unsaved]
        new = [name for name in assigned if name not in self._saved]
        if new:
            self._save(new)
        self.dialect.execute(statement)
        self._changed.extend(name for name in assigned if name in self._saved and name not in self._changed)

    def _save(self, names: list[str]) -> None:
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
