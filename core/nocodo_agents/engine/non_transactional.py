"""Running a ``transactional = False`` migration (or rollback): outside any transaction, then refusing invalid indexes.

Its statements cannot be undone, so what it may leave is checked after it
ran: an index the database marks invalid (a failed ``CREATE INDEX
CONCURRENTLY``) means it is not recorded (:class:`~nocodo_agents.InvalidIndexError`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from ..dialects import Dialect
from ..errors import InvalidIndexError, MigrationFailedError, migration_facts
from ..execution import run_statements
from ..planning import PlannedMigration
from ..schema.code_words import code_words

logger = logging.getLogger("nocodo_agents")


def is_recorded(dialect: Dialect, version: int) -> bool:
    """Whether the history holds ``version`` (one statement, one row; call once the history table exists)."""
    return dialect.history_guard(version).recorded


def run_outside_transaction(dialect: Dialect, planned: PlannedMigration, sql: str, phase: str = "migration") -> None:
    """Run a ``transactional = False`` migration's (or rollback's) statements, then refuse invalid indexes.

    Raises :class:`InvalidIndexError` if the database holds an index marked
    invalid afterwards (the caller then records nothing), also when a
    statement failed and left one, and also one invalid before it ran that
    its SQL names (``IF NOT EXISTS`` skipped it: the error tells them apart);
    otherwise a failing statement raises :class:`MigrationFailedError` as
    usual. An index invalid before it ran that it does not name (another
    application's failed build) is only logged: ``verify`` reports it.
    """
    before = dialect.invalid_indexes()  # to tell the indexes it left from those invalid already
    try:
        run_statements(dialect, planned, sql, rolled_back=False, phase=phase)
    except MigrationFailedError as failure:
        invalid = _its_invalid_indexes(_invalid_indexes_after(dialect, failure), before, sql)
        if invalid:
            raise InvalidIndexError(
                **migration_facts(planned),
                indexes=invalid,
                phase=phase,
                failure=failure,
                already_invalid=before,
            ) from failure
        raise
    invalid = _its_invalid_indexes(dialect.invalid_indexes(), before, sql)
    if invalid:
        raise InvalidIndexError(**migration_facts(planned), indexes=invalid, phase=phase, already_invalid=before)


def _its_invalid_indexes(invalid: Sequence[str], before: Sequence[str], sql: str) -> list[str]:
    """Of the ``invalid`` indexes, those new since ``before`` or named in ``sql``; the others are logged."""
    its = [index for index in invalid if index not in before or _names(sql, index)]
    for index in invalid:
        if index not in its:
            logger.warning(
                "index %s is invalid (a concurrent build failed), as it was before this migration ran, which does "
                "not name it: drop it (DROP INDEX CONCURRENTLY %s;) or build it again; `verify` reports it", index, index,
            )
    return its


#: The last identifier of a schema-qualified name, quoted (``"a ""b"""``) or not.
_LAST_IDENTIFIER = re.compile(r'(?:"(?:[^"]|"")*"|[^."]+)$')


def _names(sql: str, qualified: str) -> bool:
    """Whether ``sql`` mentions the relation ``qualified`` (``schema.name`` as ``quote_ident`` writes it) by name.

    ``sql`` is read as code (:func:`~nocodo_agents.schema.code_words.code_words`):
    a name in a comment or a string literal does not count. A bare name
    compares case-insensitively, as the server folds it; a quoted one exactly.
    """
    match = _LAST_IDENTIFIER.search(qualified)  # the server's quote_ident output, not migration SQL
    name = match.group(0) if match else qualified
    target = name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()
    return any(target in _name_parts(word) for word in code_words(sql, "postgresql"))


def _name_parts(word: str) -> list[str]:
    """The name parts a code word holds: a quoted identifier's text, or a bare (dotted) word's parts, folded."""
    if word.startswith('"'):
        return [word[1:-1].replace('""', '"')]
    if word[:1].isalnum() or word[:1] in "_$" or word[:1] > "\x7f":
        return [part.lower() for part in word.split(".") if part]
    return []


def _invalid_indexes_after(dialect: Dialect, failure: MigrationFailedError) -> list[str]:
    """The invalid indexes a failed statement left; none when they cannot be asked for (the connection is gone)."""
    try:
        return dialect.invalid_indexes()
    except Exception as error:  # keep the statement's own error
        logger.debug("could not look for invalid indexes after %s: %s", type(failure).__name__, error)
        return []
