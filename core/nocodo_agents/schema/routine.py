"""Reading a MySQL/MariaDB routine's header, and a body that is one compound statement without ``BEGIN``.

A ``CREATE TRIGGER/PROCEDURE/FUNCTION/EVENT`` (and ``ALTER EVENT ... DO``)
body is one statement. ``BEGIN ... END`` bodies are kept whole by the
splitter's block depth (:mod:`nocodo_agents.schema.split`); a body that is one
``IF ... END IF``, ``CASE ... END CASE``, ``WHILE ... END WHILE``,
``LOOP ... END LOOP``, ``REPEAT ... UNTIL ... END REPEAT`` or MariaDB
``FOR ... END FOR`` (labelled or not) is read here, as the server parses it:
``IF``, ``CASE``, ``WHILE``, ``LOOP``, ``REPEAT`` and ``FOR`` open a block only
in statement position (right after the header, after ``;``, ``BEGIN``,
``THEN``, ``ELSE``, ``DO``, ``LOOP``, ``REPEAT``, a label ``name:`` or a
handler's conditions); elsewhere ``IF(a, b, c)`` and ``REPEAT(s, n)`` are
functions and ``CASE ... END`` an expression.

Text that does not read as the grammar says (a ``;`` inside a condition, an
``END IF`` closing a ``LOOP``, a body not closed when the text ends) raises
:class:`RoutineBodyError`: the splitter cannot tell with certainty where the
server ends the statement, and the migration is refused before anything runs.
"""

from __future__ import annotations

from typing import List, Optional

from .lexer import IDENTIFIER, PUNCT, STRING, WORD, SqlLexError

#: What to do about a body the splitter cannot read with certainty.
WRAP_ADVICE = "Wrap the routine's body in BEGIN ... END (the splitter keeps a BEGIN ... END body whole)"

#: Statement words opening a block closed by ``END <word>``.
_OPENERS = frozenset({"IF", "CASE", "WHILE", "LOOP", "REPEAT", "FOR"})
#: Blocks whose body follows right after the opening word (the others have a condition first).
_BODY_FIRST = frozenset({"LOOP", "REPEAT"})
#: Blocks that may carry a label, repeated after their ``END``.
_LABELLED = frozenset({"BEGIN", "LOOP", "WHILE", "REPEAT", "FOR"})
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
_ROUTINE_WORDS = frozenset({"TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"})


class RoutineBodyError(SqlLexError):
    """A routine body the splitter cannot read with certainty; ``advice`` says what to do."""

    advice = WRAP_ADVICE


class RoutineBody:
    """Fed the code tokens of one MySQL routine statement after the word naming its kind (``TRIGGER``...).

    :attr:`open` is true while the body is a compound statement without
    ``BEGIN`` that has not reached its ``END``: its semicolons do not end the
    statement. :meth:`feed` raises :class:`RoutineBodyError` on text that
    does not read as the grammar says.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        #: header; order (a trigger's FOLLOWS/PRECEDES name); start (the next token starts the body); label (after
        #: `name:`); compound (a body without BEGIN, read by a _Block); done (the rest is no concern of this reader)
        self.phase = "header"
        self.parens = 0
        self.params_read = False  # a procedure's or function's parameter list was read
        self.words: List[str] = []  # the header's latest words at parenthesis depth 0
        self.held: Optional[str] = None  # a word waiting for the token after it (a label if `:`)
        self.returns = False  # a function's RETURNS was read
        self.named = False  # a trigger's FOLLOWS/PRECEDES name was read
        self.block: Optional[_Block] = None

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
        return (
            f"the body of this {self.kind.lower()} is a compound statement without BEGIN whose END is not reached "
            f"before the text ends"
        )

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
            if text in _OPENERS or text == "BEGIN":  # the type (words and parentheses) and characteristics are read
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
        elif kind in (WORD, IDENTIFIER) and text not in _OPENERS and text != "BEGIN":
            self.held = text  # a label if `:` follows, else the first word of a simple statement
        else:
            self._body(kind, text, offset)

    def _after_label(self, kind: str, text: str, offset: int) -> None:
        if kind == WORD and (text in _OPENERS or text == "BEGIN"):
            self._body(kind, text, offset)
        else:
            raise RoutineBodyError(offset, f"the label of the {self.kind.lower()}'s body is not followed by BEGIN, IF, CASE, WHILE, LOOP, REPEAT or FOR")

    def _body(self, kind: str, text: str, offset: int) -> None:
        if kind == WORD and text in _OPENERS:
            self.block = _Block(self.kind.lower())
            self.phase = "compound"
            self.block.feed(kind, text, offset)
        else:
            self.phase = "done"  # a BEGIN ... END body (kept whole by the block depth) or a simple statement


class _Block:
    """A compound statement in statement position, read token by token to the ``END`` closing it."""

    def __init__(self, routine: str) -> None:
        self.routine = routine
        self.stack: List[str] = []  # open blocks: BEGIN, IF, CASE, WHILE, LOOP, REPEAT, FOR, UNTIL (a REPEAT's condition), EXPR (a CASE expression)
        self.state = "statement"  # statement, held, simple, head (a block's condition), end (after END), closed, handler...
        self.held = ""  # a word in statement position waiting for the token after it
        self.first = self.previous = ""  # a simple statement's first and latest word
        self.closing = ""  # the word expected after END (IF, CASE...), "" for BEGIN
        self.done = False

    def _refuse(self, offset: int, what: str) -> None:
        raise RoutineBodyError(
            offset, f"the body of this {self.routine} is a compound statement without BEGIN that cannot be read with certainty ({what})"
        )

    def feed(self, kind: str, text: str, offset: int) -> None:
        if self.state == "held":
            self.state = "statement"
            if kind == PUNCT and text == ":":
                return  # a label
            self._simple(self.held)
        if self.state == "end":
            self.state = "label"
            if self.closing:
                if kind != WORD or text != self.closing:
                    self._refuse(offset, f"END {text} where END {self.closing} was expected")
                if not self.stack:
                    self.done = True
                return
        if self.state == "label":
            self.state = "closed"
            if kind in (WORD, IDENTIFIER) and (self.closing in _LABELLED or not self.closing):
                return  # the block's label, repeated
        if self.state == "closed":
            if kind == PUNCT and text == ";":
                self.state = "statement"
                return
            self._refuse(offset, f"{text!r} after the END of a block")
        if self.state.startswith("handler"):
            if self._handler(kind, text):
                return
        if self.state == "statement":
            self._statement(kind, text, offset)
        else:
            self._expression(kind, text, offset)

    def _simple(self, word: str) -> None:
        self.state, self.first, self.previous = "simple", word, word

    def _statement(self, kind: str, text: str, offset: int) -> None:
        if kind == WORD:
            if text in _OPENERS:
                self.stack.append(text)
                self.state = "statement" if text in _BODY_FIRST else "head"
            elif text == "BEGIN":
                self.stack.append("BEGIN")
            elif text in ("END", "ELSE", "ELSEIF", "WHEN", "UNTIL"):
                self._continuation(text, offset)
            else:
                self.state, self.held = "held", text
            return
        if kind == IDENTIFIER:
            self.state, self.held = "held", text
        elif not (kind == PUNCT and text == ";"):
            self._simple("")

    def _continuation(self, word: str, offset: int) -> None:
        """END, ELSE, ELSEIF, WHEN or UNTIL in statement position."""
        top = self.stack[-1] if self.stack else ""
        if word == "END":
            if top not in _OPENERS and top != "BEGIN":
                self._refuse(offset, f"END closing {top or 'nothing'}")
            self.stack.pop()
            self.closing = "" if top == "BEGIN" else top
            self.state = "end"
            if top == "BEGIN" and not self.stack:
                self.done = True
        elif word == "ELSE" and top in ("IF", "CASE"):
            pass  # statements follow
        elif (word == "ELSEIF" and top == "IF") or (word == "WHEN" and top == "CASE"):
            self.state = "head"
        elif word == "UNTIL" and top == "REPEAT":
            self.stack[-1] = "UNTIL"
            self.state = "head"
        else:
            self._refuse(offset, f"{word} inside {top or 'nothing'}")

    def _expression(self, kind: str, text: str, offset: int) -> None:
        """A token in a simple statement or a block's condition."""
        top = self.stack[-1] if self.stack else ""
        if kind == PUNCT and text == ";":
            if self.state != "simple" or top == "EXPR":
                self._refuse(offset, "a semicolon inside " + ("a CASE expression" if top == "EXPR" else f"the condition of {top}"))
            self.state = "statement"
            return
        if kind != WORD:
            return
        if text == "CASE":
            self.stack.append("EXPR")
        elif text == "END":
            if top == "EXPR":
                self.stack.pop()
            elif top == "UNTIL" and self.state == "head":
                self.stack.pop()
                self.closing, self.state = "REPEAT", "end"
            else:
                self._refuse(offset, f"END in an expression inside {top or 'nothing'}")
        elif text in ("THEN", "ELSE", "WHEN"):
            if top == "EXPR":
                pass
            elif text == "THEN" and self.state == "head" and top in ("IF", "CASE"):
                self.state = "statement"
            elif text == "WHEN" and self.state == "head" and top == "CASE":
                pass  # CASE value WHEN ...
            else:
                self._refuse(offset, f"{text} inside {top or 'nothing'}")
        elif text == "DO" and self.state == "head" and top in ("WHILE", "FOR"):
            self.state = "statement"
        elif self.state == "simple":
            if self.first == "DECLARE" and self.previous == "HANDLER" and text == "FOR":
                self.state = "handler"
            elif self.first == "CREATE" and self.previous == "CREATE" and text in _ROUTINE_WORDS:
                self._refuse(offset, f"CREATE {text} inside it: is the body closed?")
            self.previous = text
        elif text in ("DO", "UNTIL", "ELSEIF"):
            self._refuse(offset, f"{text} inside the condition of {top or 'nothing'}")

    def _handler(self, kind: str, text: str) -> bool:
        """A handler's conditions (``DECLARE ... HANDLER FOR SQLSTATE '23000', NOT FOUND``): True while they go on."""
        if self.state == "handler":  # a condition is expected
            self.state = {"SQLSTATE": "handler_sqlstate", "NOT": "handler_not"}.get(text, "handler_after") if kind == WORD else "handler_after"
            return True
        if self.state == "handler_sqlstate":
            if not (kind == WORD and text == "VALUE"):
                self.state = "handler_after"
            return True
        if self.state == "handler_not":
            self.state = "handler_after"  # FOUND
            return True
        if kind == PUNCT and text == ",":
            self.state = "handler"
            return True
        self.state = "statement"  # the handler's statement
        return False
