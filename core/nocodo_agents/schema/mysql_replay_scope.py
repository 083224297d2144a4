"""What a MySQL replay may run in its scratch database: nothing may reach beyond it.

MySQL's replay (:mod:`.scratch_mysql`) runs the migrations for real, in a
scratch database on the live server, with no transaction around it (DDL
commits). A statement naming another database would reach that database,
and nothing would undo it. So, before each replayed statement,
:class:`ReplayScope` decides, reading the statement with the lexer (strings,
comments and quoted names are never mistaken for words; the text of every
executable comment counts as code; the statement is read under every
``NO_BACKSLASH_ESCAPES``/``ANSI_QUOTES`` mode it may run in):

* **left out** (never run): statements that only change rows (``INSERT``,
  ``REPLACE``, ``UPDATE``, ``DELETE``, ``LOAD``, ``TRUNCATE``, ``DO``,
  ``HANDLER``), which cannot change a schema, whatever table they name; and
  the account statements (``GRANT``, ``REVOKE``, ``CREATE/ALTER/DROP/RENAME
  USER|ROLE``, ``SET PASSWORD``), which write to the server's privilege
  tables, not to the database's schema. Adoption reads what a data migration
  touches from its text (:mod:`.touched`), not from running it.
* **refused** (:class:`ReplayRefused`; drift raises
  :class:`~nocodo_agents.SchemaReplayError` naming the migration, adoption
  counts its footprint unknown): a statement naming a database on the server
  other than the scratch one (``live.t``, ```live`.t``, three-part names;
  ``information_schema`` alone is allowed: it cannot be written), ``USE``,
  ``CREATE/DROP DATABASE``, ``ALTER DATABASE name``, dynamic SQL
  (``PREPARE``/``EXECUTE`` anywhere, routine bodies included: its text is
  built when it runs), ``SELECT ... INTO OUTFILE/DUMPFILE``, a ``SET`` of a
  global variable, and the server's administration (``FLUSH``, ``KILL``,
  ``INSTALL``, ``CREATE SERVER``...).

Everything else runs in the scratch database. A name whose first part
happens to be a database's name (a table alias ``live.id`` in a database
named ``live``) is refused too: the check cannot tell them apart, and
refusing only stops the check, never touches anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Callable

from .lexer import COMMENT, EXEC_CLOSE, EXEC_OPEN, IDENTIFIER, WORD, SqlLexError, SqlSyntax, Token, tokens

__all__ = ["ReplayRefused", "ReplayScope", "RUN", "SKIP"]

RUN = "run"
SKIP = "skip"

#: First words of statements that only change rows: left out of the replay.
_DATA = frozenset({"INSERT", "REPLACE", "UPDATE", "DELETE", "LOAD", "TRUNCATE", "DO", "HANDLER"})
#: First words of account statements (privilege tables, not the schema): left out.
_ACCOUNTS = frozenset({"GRANT", "REVOKE"})
_ACCOUNT_OBJECTS = frozenset({"USER", "ROLE"})
#: First words of the server's administration: refused.
_SERVER = frozenset({"FLUSH", "KILL", "INSTALL", "UNINSTALL", "RESET", "PURGE", "CHANGE", "SHUTDOWN", "BINLOG"})
_SERVER_OBJECTS = frozenset({"SERVER", "TABLESPACE", "LOGFILE"})
_DATABASES = frozenset({"DATABASE", "SCHEMA", "DATABASES", "SCHEMAS"})
#: Words that may follow ``ALTER DATABASE`` when it alters the current database (no name).
_DATABASE_OPTIONS = frozenset({"CHARACTER", "CHARSET", "DEFAULT", "COLLATE", "COMMENT", "ENCRYPTION", "READ", "UPGRADE"})
_DYNAMIC = frozenset({"PREPARE", "EXECUTE"})
_FILES = frozenset({"OUTFILE", "DUMPFILE"})
_GLOBAL = frozenset({"GLOBAL", "PERSIST", "PERSIST_ONLY"})
#: Databases a statement may name: ``information_schema`` cannot be written.
_READ_ONLY_DATABASES = frozenset({"information_schema"})
#: The modes a statement may be read in (backslash escapes, ANSI quotes).
_MODES = ((True, False), (False, False), (True, True), (False, True))


class ReplayRefused(Exception):
    """A statement the MySQL replay will not run: ``reason`` completes "refused, not run: it ..."."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"refused, not run: it {reason}. The replay runs migrations for real in a scratch database on the "
            f"live server, outside any transaction, so nothing there could be undone"
        )


class ReplayScope:
    """Decides, per statement, whether the replay in ``scratch`` runs it, leaves it out or refuses it.

    ``databases`` gives the lower-cased names of the server's databases;
    it is asked once, and only if a statement names something qualified.
    """

    def __init__(self, scratch: str, databases: Callable[[], frozenset[str]]) -> None:
        self.scratch = scratch.lower()
        self._databases = databases
        self._known: frozenset[str] | None = None

    def action(self, statement: str) -> str:
        """:data:`RUN` or :data:`SKIP`; raises :class:`ReplayRefused` for a statement reaching beyond the scratch."""
        readings = list(_readings(statement))
        if not readings:
            raise ReplayRefused("cannot be read under any sql_mode (an unterminated string or comment)")
        if _skipped([text.upper() for _kind, text in readings[0][:4]]):
            return SKIP
        for words in readings:
            reason = self._refusal(words)
            if reason is not None:
                raise ReplayRefused(reason)
        return RUN

    def _refusal(self, words: list[tuple[str, str]]) -> str | None:
        """Why one reading of a statement must not run, or ``None``."""
        upper = [text.upper() if kind == WORD else "" for kind, text in words]
        first, second = (upper + ["", ""])[:2]
        object_word = upper[3] if second == "OR" and len(upper) > 3 else second  # CREATE OR REPLACE x
        if first == "USE":
            return "makes another database current (USE)"
        if first in ("CREATE", "DROP", "RENAME") and object_word in _DATABASES:
            return f"{first.lower()}s a database"
        if first == "ALTER" and second in _DATABASES and len(upper) > 2 and upper[2] not in _DATABASE_OPTIONS:
            return "alters a database by name"
        if first in _SERVER or (first in ("CREATE", "ALTER", "DROP") and object_word in _SERVER_OBJECTS):
            return f"acts on the server ({first}), outside the scratch database"
        if first == "SET" and any(word in _GLOBAL or word.startswith(("@@GLOBAL.", "@@PERSIST")) for word in upper):
            return "changes a global setting of the server"
        for word in upper:
            if word in _DYNAMIC:
                return f"runs SQL built when it runs ({word}), which cannot be checked before it runs"
            if word in _FILES:
                return f"writes a file on the server ({word})"
        for database, name in _qualifiers(words):
            if database.lower() in self.databases() and database.lower() not in _READ_ONLY_DATABASES:
                return (
                    f"names the database `{database}` ({name}): replayed, it would read or change that database, "
                    f"not the scratch one. Name objects without their database in a migration (it is applied in "
                    f"the database being migrated)"
                )
        return None

    def databases(self) -> frozenset[str]:
        """The server's databases other than the scratch one, lower-cased (asked once)."""
        if self._known is None:
            self._known = frozenset(name.lower() for name in self._databases()) - {self.scratch}
        return self._known


def _skipped(first_words: list[str]) -> bool:
    """Whether a statement starting with ``first_words`` (upper-cased) is left out of the replay."""
    if not first_words:
        return True
    first = first_words[0]
    if first in _DATA or first in _ACCOUNTS:
        return True
    if first == "SET" and first_words[1:2] == ["PASSWORD"]:
        return True
    rest = first_words[3:4] if first_words[1:3] == ["OR", "REPLACE"] else first_words[1:2]
    return first in ("CREATE", "ALTER", "DROP", "RENAME") and bool(rest) and rest[0] in _ACCOUNT_OBJECTS


def _readings(statement: str) -> Iterator[list[tuple[str, str]]]:
    """The statement's code tokens ``(kind, text)`` under each mode it can be read in (the runner's first)."""
    for backslash, ansi in _MODES:
        syntax = SqlSyntax("mysql", backslash_escapes=backslash, ansi_quotes=ansi)
        try:
            found = [_token(statement, token) for token in tokens(statement, syntax) if token.kind not in (COMMENT, EXEC_OPEN, EXEC_CLOSE)]
        except SqlLexError:
            continue
        yield found


def _token(statement: str, token: Token) -> tuple[str, str]:
    return token.kind, statement[token.start : token.end]


def _parts(kind: str, text: str) -> list[str]:
    """A name token's parts, dots kept as their own items (``live.t`` -> ``live``, ``.``, ``t``); ``[]`` if not a name."""
    if kind == IDENTIFIER:
        quote = text[0]
        return [text[1:-1].replace(quote * 2, quote)]
    if kind != WORD or text.startswith("@") or text[:1].isdigit() and text.split(".")[0].isdigit():
        return []
    parts: list[str] = []
    for index, part in enumerate(text.split(".")):
        if index:
            parts.append(".")
        if part:
            parts.append(part)
    return parts


def _qualifiers(words: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """``(qualifier, dotted name as written)`` for every name with a first part and a dot after it."""
    items: list[str | None] = []  # name parts, "." for a dot, None for anything else
    texts: list[str] = []
    for kind, text in words:
        parts = _parts(kind, text)
        if parts:
            items += parts
            texts += [text] + [""] * (len(parts) - 1)
        elif text == ".":
            items.append(".")
            texts.append(".")
        else:
            items.append(None)
            texts.append("")
    for index, item in enumerate(items[:-1]):
        if item in (None, ".") or items[index + 1] != ".":
            continue
        if index and items[index - 1] == ".":
            continue  # not the first part of its name
        end = index + 1
        while end + 1 < len(items) and items[end] == "." and items[end + 1] not in (None, "."):
            end += 2
        yield item, "".join(texts[index:end])  # type: ignore[misc]
