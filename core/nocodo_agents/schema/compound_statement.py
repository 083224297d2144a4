"""A MySQL/MariaDB compound statement without ``BEGIN``, read token by token to the ``END`` closing it.

The body of a routine (:mod:`.routine` reads its header) may be one
``IF ... END IF``, ``CASE ... END CASE``, ``WHILE ... END WHILE``,
``LOOP ... END LOOP``, ``REPEAT ... UNTIL ... END REPEAT`` or MariaDB
``FOR ... END FOR``, nesting others and ``BEGIN ... END`` blocks; or it is
one ``BEGIN ... END`` block (MariaDB's ``BEGIN NOT ATOMIC`` too, also outside
a routine). Its semicolons do not end the statement; :class:`CompoundStatement`
says when its ``END`` is reached, or raises :class:`RoutineBodyError` where the
text does not read as the grammar says.

``BEGIN`` and ``END`` are not reserved on MySQL/MariaDB: a column, variable or
alias may be named ``end`` or ``begin`` (``SET end = start``,
``SELECT x AS end``). So ``BEGIN`` opens a block only in statement position,
and ``END`` inside a statement or condition is a name, except where it closes
a ``CASE`` expression (or a ``REPEAT``'s ``UNTIL`` condition): right after an
operand (``ELSE 0 END``), not after a token that calls for one
(``THEN end``, ``= end``, ``(end``).
"""

from __future__ import annotations

from .lexer import IDENTIFIER, PUNCT, WORD, SqlLexError

#: What to do about a body without BEGIN the splitter cannot read with certainty.
WRAP_ADVICE = "Wrap the routine's body in BEGIN ... END (the splitter keeps a BEGIN ... END body whole)"
#: What to do about a BEGIN ... END body the splitter cannot read with certainty.
CHECK_ADVICE = (
    "Check that each block in the body is closed by its own END (END IF after IF, END LOOP after LOOP...) and that "
    "each statement inside it ends with a semicolon"
)

#: Statement words opening a block closed by ``END <word>``.
OPENERS = frozenset({"IF", "CASE", "WHILE", "LOOP", "REPEAT", "FOR"})
#: Blocks whose body follows right after the opening word (the others have a condition first).
BODY_FIRST = frozenset({"LOOP", "REPEAT"})
#: Blocks that may carry a label, repeated after their ``END``.
LABELLED = frozenset({"BEGIN", "LOOP", "WHILE", "REPEAT", "FOR"})
#: Words after which an expression calls for an operand: an ``END`` right after one is a name, not a closing word.
_OPERAND_BEFORE = frozenset(
    {
        "CASE", "WHEN", "THEN", "ELSE", "AND", "OR", "XOR", "NOT", "IS", "SELECT", "SET", "WHERE", "BY", "AS", "ON",
        "RETURN", "DISTINCT", "HAVING", "LIKE", "BETWEEN", "DIV", "MOD", "INTERVAL", "FROM", "JOIN", "INTO", "UPDATE",
        "TABLE", "DECLARE", "IF", "ELSEIF", "WHILE", "UNTIL", "DEFAULT", "REGEXP", "RLIKE", "ALL", "ANY", "SOME",
        "EXISTS", "IN", "USING", "LIMIT", "OFFSET", "BINARY", "ESCAPE", "LEAVE", "ITERATE",
    }
)
#: What may follow CREATE to make a routine: one inside a body means that body was not closed.
_ROUTINE_WORDS = frozenset({"TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"})


class RoutineBodyError(SqlLexError):
    """A routine body the splitter cannot read with certainty; ``advice`` says what to do."""

    def __init__(self, offset: int, what: str, advice: str = WRAP_ADVICE) -> None:
        super().__init__(offset, what)
        self.advice = advice


class CompoundStatement:
    """A compound statement in statement position, read token by token to the ``END`` closing it (:attr:`done`)."""

    def __init__(self, routine: str) -> None:
        self.routine = routine
        self.stack: list[str] = []  # open blocks: BEGIN, IF, CASE, WHILE, LOOP, REPEAT, FOR, UNTIL (a REPEAT's condition), EXPR (a CASE expression)
        self.state = "statement"  # statement, held, simple, head (a block's condition), end (after END), closed, handler...
        self.held = ""  # a word in statement position waiting for the token after it
        self.first = self.previous = ""  # a simple statement's first and latest word
        self.closing = ""  # the word expected after END (IF, CASE...), "" for BEGIN
        self.outer = ""  # the outermost block's word: BEGIN, IF...
        self.operand_next = False  # the latest token of a statement or condition calls for an operand (``=``, THEN...)
        self.done = False

    def _refuse(self, offset: int, what: str) -> None:
        if self.outer == "BEGIN":
            raise RoutineBodyError(offset, f"the BEGIN ... END body of this {self.routine} cannot be read with certainty ({what})", CHECK_ADVICE)
        raise RoutineBodyError(
            offset, f"the body of this {self.routine} is a compound statement without BEGIN that cannot be read with certainty ({what})"
        )

    def feed(self, kind: str, text: str, offset: int) -> None:
        if self.state == "begun":  # MariaDB's BEGIN NOT ATOMIC
            self.state = "statement"
            if kind == WORD and text == "NOT":
                self.state = "not_atomic"
                return
        elif self.state == "not_atomic":
            self.state = "statement"
            if kind == WORD and text == "ATOMIC":
                return
            self._refuse(offset, f"BEGIN NOT {text}")
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
            if kind in (WORD, IDENTIFIER) and (self.closing in LABELLED or not self.closing):
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
        self.operand_next = word in _OPERAND_BEFORE

    def _statement(self, kind: str, text: str, offset: int) -> None:
        if kind == WORD:
            self.outer = self.outer or text
            if text in OPENERS:
                self.stack.append(text)
                self.state = "statement" if text in BODY_FIRST else "head"
                self.operand_next = True
            elif text == "BEGIN":
                self.stack.append("BEGIN")
                self.state = "begun"
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
            if top not in OPENERS and top != "BEGIN":
                self._refuse(offset, f"END closing {top or 'nothing'}")
            self.stack.pop()
            self.closing = "" if top == "BEGIN" else top
            self.state = "end"
            if top == "BEGIN" and not self.stack:
                self.done = True
        elif word == "ELSE" and top in ("IF", "CASE"):
            pass  # statements follow
        elif (word == "ELSEIF" and top == "IF") or (word == "WHEN" and top == "CASE"):
            self.state, self.operand_next = "head", True
        elif word == "UNTIL" and top == "REPEAT":
            self.stack[-1] = "UNTIL"
            self.state, self.operand_next = "head", True
        else:
            self._refuse(offset, f"{word} inside {top or 'nothing'}")

    def _expression(self, kind: str, text: str, offset: int) -> None:
        """A token in a simple statement or a block's condition."""
        top = self.stack[-1] if self.stack else ""
        operand_next, self.operand_next = self.operand_next, (kind == PUNCT and text != ")") or (kind == WORD and text in _OPERAND_BEFORE)
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
            if operand_next or top not in ("EXPR", "UNTIL") or (top == "UNTIL" and self.state != "head"):
                pass  # a name: `SET end = start`, `THEN end`, `SELECT x AS end`
            elif top == "EXPR":
                self.stack.pop()
            else:
                self.stack.pop()
                self.closing, self.state = "REPEAT", "end"
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
