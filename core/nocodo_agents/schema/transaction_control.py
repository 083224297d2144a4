"""Finding statements in a migration's SQL that would end or escape the runner's transaction.

The runner wraps every migration (and every rollback) with its history row
in one transaction and commits it itself, so a statement that ends that
transaction early (``COMMIT``, ``END``, ``ROLLBACK``, ``ABORT``, the two-phase
``PREPARE TRANSACTION`` / ``COMMIT PREPARED``), opens another (``BEGIN``,
``START TRANSACTION``, ``XA START``) or changes how transactions end
(MySQL's ``SET autocommit``, ``SET completion_type``, ``LOCK TABLES``,
``UNLOCK TABLES``) would leave part of a migration committed, or record a
migration whose work was undone. :func:`find_transaction_control` finds the
first such statement before anything runs.

Allowed: ``SAVEPOINT x`` and, after it, ``ROLLBACK TO [SAVEPOINT] x`` and
``RELEASE [SAVEPOINT] x`` in a transactional migration on SQLite and
PostgreSQL (savepoints nest inside the runner's transaction). On MySQL, where
each statement of a migration is committed as the journal records the next,
savepoints cannot survive and are refused. A ``transactional = False``
migration runs outside any transaction and may hold no transaction control
at all.

Not transaction control, though they contain the words: ``BEGIN ... END``
bodies of ``CREATE TRIGGER/FUNCTION/PROCEDURE`` (one statement starting with
``CREATE``), PostgreSQL's ``DO $$ BEGIN ... END $$`` and ``BEGIN ATOMIC``,
MariaDB's ``BEGIN NOT ATOMIC ... END`` block, and PostgreSQL's ``LOCK TABLE``
(which keeps the transaction open). Statements are classified as the
dialect's splitter returns them; leading comments and whitespace are
skipped, and the text of MySQL's executable comments (``/*! ... */``) counts
as code, as the server runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .code_words import code_words, first_word, unquoted

__all__ = ["REASONS", "TransactionControl", "classify", "find_transaction_control", "first_word"]

#: Why each kind of statement is refused (completing "statement N ...").
REASONS = {
    "begin": (
        "starts a transaction, but the migration already runs inside the runner's (SQLite refuses "
        "it, PostgreSQL ignores it, MySQL commits everything before it)"
    ),
    "commit": (
        "commits the runner's transaction early: the statements before it would stay applied even "
        "if a later one failed, and the history row would be written outside the transaction"
    ),
    "rollback": (
        "rolls back the runner's transaction: the statements before it would be undone while the "
        "migration is recorded as applied"
    ),
    "two_phase": "prepares or finishes a two-phase transaction, which ends the runner's transaction",
    "xa": "starts or ends an XA transaction, which ends the runner's transaction",
    "lock_tables": "commits the runner's transaction (MySQL's LOCK TABLES and UNLOCK TABLES commit implicitly)",
    "session_mode": "changes how the session's transactions end (autocommit or completion_type)",
    "unknown_savepoint": "refers to a savepoint this migration did not create before it",
    "savepoint_mysql": (
        "uses a savepoint, which cannot work on MySQL: DDL commits implicitly and the runner commits "
        "each statement of a migration as it journals the next, which discards every savepoint"
    ),
    "savepoint_outside": (
        "uses a savepoint, but the migration is declared `transactional = False` and runs outside any "
        "transaction (on SQLite a SAVEPOINT there starts one)"
    ),
}

_OPTIONAL_NOISE = ("WORK", "TRANSACTION")
#: MySQL session variables whose change alters how the runner's own COMMIT behaves.
_SESSION_MODE_VARIABLES = ("AUTOCOMMIT", "COMPLETION_TYPE")


@dataclass(frozen=True)
class TransactionControl:
    """A refused statement: its position in the migration, its text, and why."""

    index: int
    statement: str
    kind: str

    @property
    def reason(self) -> str:
        """What the statement would do to the runner's transaction."""
        return REASONS[self.kind]


def find_transaction_control(statements: Sequence[str], dialect: str, *, transactional: bool = True) -> TransactionControl | None:
    """The first statement of ``statements`` (split for ``dialect``) that controls transactions, if any.

    Savepoints are followed in order: ``ROLLBACK TO x`` and ``RELEASE x``
    pass only while ``x`` is a savepoint the same statement list created
    and has not released.
    """
    savepoints: list[str] = []
    for index, statement in enumerate(statements):
        kind, name = classify(statement, dialect)
        if kind is None:
            continue
        if kind in ("savepoint", "release", "rollback_to"):
            if not transactional:
                return TransactionControl(index, statement, "savepoint_outside")
            if dialect == "mysql":
                return TransactionControl(index, statement, "savepoint_mysql")
            if kind == "savepoint":
                savepoints.append(name or "")
                continue
            if name not in savepoints:
                return TransactionControl(index, statement, "unknown_savepoint")
            latest = len(savepoints) - 1 - savepoints[::-1].index(name or "")
            del savepoints[latest + (kind == "rollback_to") :]  # ROLLBACK TO keeps the savepoint itself
            continue
        return TransactionControl(index, statement, kind)
    return None


#: The first words of every statement :func:`classify` gives a kind.
_CONTROL_WORDS = frozenset(
    {"BEGIN", "START", "COMMIT", "ROLLBACK", "PREPARE", "END", "ABORT", "SAVEPOINT", "RELEASE", "XA", "LOCK", "UNLOCK", "SET"}
)


def classify(statement: str, dialect: str) -> tuple[str | None, str | None]:
    """``(kind, savepoint name)`` of one statement; ``(None, None)`` for anything else.

    Kinds: ``begin``, ``commit``, ``rollback``, ``two_phase``, ``xa``,
    ``lock_tables``, ``session_mode`` (refused), and ``savepoint``,
    ``release``, ``rollback_to`` (allowed for a savepoint of the migration's own).
    """
    if first_word(statement, dialect) not in _CONTROL_WORDS:
        return None, None  # CREATE, INSERT...: no need to read further
    mysql = dialect == "mysql"
    words = list(code_words(statement, dialect, limit=6))
    if not words:
        return None, None
    upper = [w.upper() for w in words]
    first = upper[0]
    rest = upper[1:]
    if first == "BEGIN":
        if rest[:1] == ["ATOMIC"] or (mysql and rest[:2] == ["NOT", "ATOMIC"]):
            return None, None
        return "begin", None
    if first == "START" and rest[:1] == ["TRANSACTION"]:
        return "begin", None
    if first in ("COMMIT", "ROLLBACK") and rest[:1] == ["PREPARED"]:
        return "two_phase", None
    if first == "PREPARE" and rest[:1] == ["TRANSACTION"]:
        return "two_phase", None
    if first in ("COMMIT", "END"):
        return "commit", None
    if first == "ABORT":
        return "rollback", None
    if first == "ROLLBACK":
        position = 2 if rest[:1] and rest[0] in _OPTIONAL_NOISE else 1
        if upper[position : position + 1] == ["TO"]:
            position += 1
            if upper[position : position + 1] == ["SAVEPOINT"]:
                position += 1
            return "rollback_to", _savepoint_name(words, position)
        return "rollback", None
    if first == "SAVEPOINT":
        return "savepoint", _savepoint_name(words, 1)
    if first == "RELEASE":
        return "release", _savepoint_name(words, 2 if rest[:1] == ["SAVEPOINT"] else 1)
    if mysql:
        if first == "XA":
            return "xa", None
        if (first == "LOCK" and rest[:1] in (["TABLE"], ["TABLES"])) or (first == "UNLOCK" and rest[:1] in (["TABLE"], ["TABLES"])):
            return "lock_tables", None
        if first == "SET" and _sets_session_mode(statement):
            return "session_mode", None
    return None, None


def _savepoint_name(words: Sequence[str], position: int) -> str | None:
    """A savepoint name compared as the servers do: quoted exactly, unquoted case-insensitively."""
    return unquoted(words[position]) if position < len(words) else None


def _sets_session_mode(statement: str) -> bool:
    """Whether a MySQL ``SET`` assigns ``autocommit`` or ``completion_type`` (any scope, any spelling)."""
    tokens = list(code_words(statement, "mysql"))
    for position, token in enumerate(tokens[:-1]):
        variable = token.upper().lstrip("@").rpartition(".")[2]
        if variable in _SESSION_MODE_VARIABLES and tokens[position + 1] in ("=", ":="):
            return True
    return False
