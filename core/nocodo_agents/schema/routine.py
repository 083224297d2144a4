"""Reading a MySQL/MariaDB routine's header, to where its body starts and what kind of body it is.

A ``CREATE TRIGGER/PROCEDURE/FUNCTION/EVENT`` (and ``ALTER EVENT ... DO``)
body is one statement. A body that is one compound statement (a
``BEGIN ... END`` block, ``IF ... END IF``, ``CASE ... END CASE``,
``WHILE ... END WHILE``, ``LOOP ... END LOOP``, ``REPEAT ... UNTIL ... END REPEAT``
or MariaDB ``FOR ... END FOR``, labelled or not) is found here and read to its
end by :mod:`.compound_statement`, as the server parses it:
``BEGIN``, ``IF``, ``CASE``, ``WHILE``, ``LOOP``, ``REPEAT`` and ``FOR`` open a
block only in statement position (right after the header, after ``;``,
``BEGIN``, ``THEN``, ``ELSE``, ``DO``, ``LOOP``, ``REPEAT``, a label ``name:``
or a handler's conditions); elsewhere ``IF(a, b, c)`` and ``REPEAT(s, n)`` are
functions, ``CASE ... END`` an expression, and ``begin`` or ``end`` a name
(neither is reserved: ``SET NEW.end = NEW.start``, ``DECLARE end INT``).

Text that does not read as the grammar says (a ``;`` inside a condition, an
``END IF`` closing a ``LOOP``, a body not closed when the text ends) raises
:class:`RoutineBodyError`: the splitter cannot tell with certainty where the
server ends the statement, and the migration is refused before anything runs.
"""

from __future__ import annotations

from .compound_statement import OPENERS, WRAP_ADVICE, CompoundStatement, RoutineBodyError
from .lexer import IDENTIFIER, PUNCT, STRING, WORD

#: What to do about a stored program written under sql_mode ORACLE.
ORACLE_ADVICE = (
    "Create the stored program in MariaDB's default syntax (without ORACLE in sql_mode; it still runs when called "
    "from a session in ORACLE mode), with its body in BEGIN ... END"
)

__all__ = ["ORACLE_ADVICE", "WRAP_ADVICE", "RoutineBody", "RoutineBodyError", "oracle_program"]

#: Procedure characteristics between the parameter list and the body.
_CHARACTERISTICS = frozenset(
    {"COMMENT", "LANGUAGE", "SQL", "NOT", "DETERMINISTIC", "CONTAINS", "NO", "READS", "MODIFIES", "DATA", "SECURITY", "DEFINER", "INVOKER"}
)
#: Words that start a simple statement: after a function's ``RETURNS``, one of them starts the body.
_SIMPLE_STARTS = frozenset(
    {
        "RETURN", "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "CALL", "DO", "SIGNAL", "RESIGNAL", "DECLARE",
        "LEAVE", "ITERATE", "DROP", "CREATE", "ALTER", "TRUNCATE", "RENAME", "OPEN", "CLOSE", "FETCH", "PREPARE",
        "EXECUTE", "DEALLOCATE", "LOCK", "UNLOCK", "START", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "FLUSH", "GET",
        "SHOW", "EXPLAIN", "WITH", "VALUES", "ANALYZE", "OPTIMIZE", "REPAIR", "CHECKSUM", "KILL", "LOAD", "PURGE",
        "RESET", "GRANT", "REVOKE", "USE", "XA", "INSTALL", "UNINSTALL",
    }
)


def oracle_program(offset: int, what: str) -> RoutineBodyError:
    """The refusal of a stored program (``what``: procedure, package...) under sql_mode ORACLE, at ``offset``.

    Its PL/SQL syntax (declarations between ``IS``/``AS`` and ``BEGIN``,
    ``ELSIF``, ``WHILE ... LOOP``, packages) is not read by this module: where
    it ends cannot be told with certainty.
    """
    return RoutineBodyError(
        offset, f"a {what.lower()} created under sql_mode ORACLE (PL/SQL syntax, which the splitter does not read)", ORACLE_ADVICE
    )


class RoutineBody:
    """Fed the code tokens of one MySQL routine statement after the word naming its kind (``TRIGGER``...).

    :attr:`open` is true while the body is a compound statement that has not
    reached its ``END``: its semicolons do not end the statement. :meth:`feed` raises :class:`RoutineBodyError` on text that
    does not read as the grammar says.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        #: header; order (a trigger's FOLLOWS/PRECEDES name); start (the next token starts the body); label (after
        #: `name:`); compound (a body without BEGIN, read by a CompoundStatement); done (the rest is no concern of this reader)
        self.phase = "header"
        self.parens = 0
        self.params_read = False  # a procedure's or function's parameter list was read
        self.words: list[str] = []  # the header's latest words at parenthesis depth 0
        self.held: str | None = None  # a word waiting for the token after it (a label if `:`)
        self.returns = False  # a function's RETURNS was read
        self.named = False  # a trigger's FOLLOWS/PRECEDES name was read
        self.block: CompoundStatement | None = None

    @classmethod
    def block(cls) -> RoutineBody:
        """A compound statement outside a routine (MariaDB's ``BEGIN NOT ATOMIC ... END``, ``IF ... END IF``...), fed from its first word."""
        body = cls("BLOCK")
        body.phase = "start"
        return body

    @property
    def open(self) -> bool:
        """Whether the body's semicolons are inside its compound statement."""
        return self.phase == "compound"

    def feed(self, kind: str, text: str, offset: int) -> None:
        """Read one code token (``text`` upper case for a word) at ``offset``."""
        if self.phase == "compound":
            assert self.block is not None
            self.block.feed(kind, text, offset)
            if self.block.done:
                self.phase = "done"
        elif self.phase == "header":
            self._header(kind, text, offset)
        elif self.phase == "order":
            if kind in (WORD, IDENTIFIER) and not self.named:
                self.named = True
            elif kind == PUNCT and text == "." and self.named:
                self.named = False
            else:
                self.phase = "start"
                self._start(kind, text, offset)
        elif self.phase == "start":
            self._start(kind, text, offset)
        elif self.phase == "label":
            self._after_label(kind, text, offset)

    def unclosed(self) -> str:
        """Why the text ends inside the body."""
        what = "this compound statement" if self.kind == "BLOCK" else f"the body of this {self.kind.lower()}"
        return f"{what} is a compound statement whose END is not reached before the text ends"

    def _header(self, kind: str, text: str, offset: int) -> None:
        if self.held is not None:  # a function's SET: `RETURNS ... SET('a')` is a type, `SET x = 1` the body
            self.held = None
            if not (kind == PUNCT and text == "("):
                self.phase = "done"
                return
        if kind == PUNCT and text == "(":
            self.parens += 1
        elif kind == PUNCT and text == ")":
            self.parens = max(self.parens - 1, 0)
            if self.parens == 0 and not self.params_read:
                self.params_read = True
                if self.kind == "PROCEDURE":
                    self.phase = "start"  # characteristics, then the body
        if self.parens or kind != WORD:
            return
        previous = self.words[-1] if self.words else ""
        self.words = (self.words + [text])[-3:]
        if self.kind == "TRIGGER" and self.words == ["FOR", "EACH", "ROW"]:
            self.phase = "start"
        elif self.kind == "EVENT" and text == "DO":
            self.phase = "start"
        elif self.kind == "FUNCTION" and self.returns and previous != "RETURNS":
            if text in OPENERS or text == "BEGIN":  # the type (words and parentheses) and characteristics are read
                self._body(kind, text, offset)
            elif text == "SET" and previous not in ("CHARACTER", "CHAR"):
                self.held = text
            elif text in _SIMPLE_STARTS:
                self.phase = "done"
        elif self.kind == "FUNCTION" and text == "RETURNS" and self.params_read:
            self.returns = True

    def _start(self, kind: str, text: str, offset: int) -> None:
        """The first token of the body (after a trigger's FOLLOWS/PRECEDES, a procedure's characteristics)."""
        if self.held is not None:
            self.held = None
            self.phase = "label" if kind == PUNCT and text == ":" else "done"
            return
        if kind == WORD and self.kind == "TRIGGER" and text in ("FOLLOWS", "PRECEDES"):
            self.phase = "order"
        elif self.kind == "PROCEDURE" and (kind == STRING or (kind == WORD and text in _CHARACTERISTICS)):
            return
        elif kind in (WORD, IDENTIFIER) and text not in OPENERS and text != "BEGIN":
            self.held = text  # a label if `:` follows, else the first word of a simple statement
        else:
            self._body(kind, text, offset)

    def _after_label(self, kind: str, text: str, offset: int) -> None:
        if kind == WORD and (text in OPENERS or text == "BEGIN"):
            self._body(kind, text, offset)
        else:
            raise RoutineBodyError(offset, f"the label of the {self.kind.lower()}'s body is not followed by BEGIN, IF, CASE, WHILE, LOOP, REPEAT or FOR")

    def _body(self, kind: str, text: str, offset: int) -> None:
        if kind == WORD and (text in OPENERS or text == "BEGIN"):
            self.block = CompoundStatement(self.kind.lower())
            self.phase = "compound"
            self.block.feed(kind, text, offset)
        else:
            self.phase = "done"  # a simple statement
