"""Splitting PostgreSQL and MySQL scripts into statements."""

import pytest

from nocodo_agents.schema.split import split_statements


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_plain_statements_and_trailing_text(dialect: str) -> None:
    assert split_statements("CREATE TABLE a (x INT);\nINSERT INTO a VALUES (1);\n  SELECT 1", dialect) == [
        "CREATE TABLE a (x INT)", "INSERT INTO a VALUES (1)", "SELECT 1",
    ]


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_semicolons_in_strings_identifiers_and_comments(dialect: str) -> None:
    sql = """
    -- leading comment; not a statement
    INSERT INTO t VALUES ('a;b', 'it''s; fine');
    /* block; comment */
    SELECT "odd;name" FROM t; -- trailing; comment
    """
    assert split_statements(sql, dialect) == [
        "-- leading comment; not a statement\n    INSERT INTO t VALUES ('a;b', 'it''s; fine')",
        '/* block; comment */\n    SELECT "odd;name" FROM t',
    ]


def test_postgresql_dollar_quotes_and_escape_strings() -> None:
    sql = """
    CREATE FUNCTION f() RETURNS trigger AS $body$ BEGIN RAISE NOTICE 'x;y'; RETURN NEW; END; $body$ LANGUAGE plpgsql;
    SELECT $$a;b$$, E'back\\'slash;';
    SELECT price$1 FROM t;
    """
    statements = split_statements(sql, "postgresql")
    assert len(statements) == 3
    assert statements[0].endswith("LANGUAGE plpgsql") and "RETURN NEW; END;" in statements[0]
    assert statements[1] == "SELECT $$a;b$$, E'back\\'slash;'"


def test_mysql_backticks_hash_comments_and_backslashes() -> None:
    sql = "CREATE TABLE `a;b` (x INT); # comment; here\nINSERT INTO `a;b` VALUES ('x\\';y');"
    assert split_statements(sql, "mysql") == ["CREATE TABLE `a;b` (x INT)", "# comment; here\nINSERT INTO `a;b` VALUES ('x\\';y')"]


def test_only_comments_is_no_statement() -> None:
    assert split_statements("-- nothing\n/* here */\n;\n", "postgresql") == []


def test_mysql_compound_statement_bodies_stay_whole() -> None:
    sql = """
    CREATE TABLE audit (id INT, begin INT, end INT);
    CREATE TRIGGER audit_ins AFTER INSERT ON audit FOR EACH ROW
    BEGIN
        IF NEW.id > 0 THEN
            INSERT INTO log VALUES (NEW.id);
        END IF;
        SET @x = CASE WHEN NEW.id = 1 THEN 1 ELSE 2 END;
        BEGIN
            INSERT INTO log VALUES (2);
        END;
    END;
    INSERT INTO audit VALUES (1, 2, 3);
    """
    statements = split_statements(sql, "mysql")
    assert len(statements) == 3
    assert statements[0] == "CREATE TABLE audit (id INT, begin INT, end INT)"
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END")
    assert statements[2] == "INSERT INTO audit VALUES (1, 2, 3)"


def test_mysql_case_statement_right_after_a_case_expression_opens_a_block() -> None:
    """``... END); CASE WHEN`` opens a CASE statement: only ``END CASE`` is the closing pair (found by the server oracle)."""
    body = (
        "BEGIN IF n > 1 THEN INSERT INTO o (v) VALUES (CASE n WHEN 3 THEN 30 ELSE 0 END); CASE WHEN n > 1 THEN "
        "INSERT INTO o (v) VALUES (n); ELSE INSERT INTO o (v) VALUES (n); END CASE; ELSE INSERT INTO o (v) VALUES (n); "
        "END IF; END"
    )
    routine = f"CREATE PROCEDURE p(n INT) {body}"
    assert split_statements(f"{routine};\nCALL p(3);", "mysql") == [routine, "CALL p(3)"]


def test_transaction_begin_is_not_a_block() -> None:
    assert split_statements("BEGIN; INSERT INTO t VALUES (1); COMMIT;", "mysql") == ["BEGIN", "INSERT INTO t VALUES (1)", "COMMIT"]


def test_postgresql_begin_atomic_function_body() -> None:
    sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\nSELECT f();"
    assert split_statements(sql, "postgresql") == [
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END", "SELECT f()",
    ]


# -- one lexer: executable comments, nesting, modes, unsplittable text ---------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nocodo_agents.schema.lexer import SqlSyntax, mysql_version_id  # noqa: E402
from nocodo_agents.schema.presence import has_statement  # noqa: E402
from nocodo_agents.schema.split import SplitError  # noqa: E402
from nocodo_agents.schema.transaction_control import first_word  # noqa: E402

MARIADB = SqlSyntax("mysql", backslash_escapes=True, server_version=101119, mariadb=True)
MYSQL8 = SqlSyntax("mysql", backslash_escapes=True, server_version=80036, mariadb=False)


def test_server_versions_are_read_from_the_handshake() -> None:
    assert mysql_version_id("5.5.5-10.11.19-MariaDB-0+deb12u1") == (101119, True)
    assert mysql_version_id("11.4.2-MariaDB") == (110402, True)
    assert mysql_version_id("8.0.36") == (80036, False)


@pytest.mark.parametrize(
    "comment, on_mariadb, on_mysql8",
    [
        ("/*!40101 SELECT 1 */", True, True),
        ("/*!50700 SELECT 1 */", False, True),  # MariaDB skips MySQL 5.7+ numbers
        ("/*!80000 SELECT 1 */", False, True),
        ("/*!100100 SELECT 1 */", True, False),
        ("/*!999999 SELECT 1 */", False, False),
        ("/*M!100100 SELECT 1 */", True, False),  # MariaDB only
        ("/*M!50700 SELECT 1 */", True, False),
        ("/*! SELECT 1 */", True, True),
        ("/*+ SELECT 1 */", False, False),  # an optimizer hint is a comment
    ],
)
def test_executable_comments_run_as_each_server_runs_them(comment: str, on_mariadb: bool, on_mysql8: bool) -> None:
    assert split_statements(comment + ";", "mysql", MARIADB) == ([comment] if on_mariadb else [])
    assert split_statements(comment + ";", "mysql", MYSQL8) == ([comment] if on_mysql8 else [])
    assert split_statements(comment + ";", "postgresql") == []


def test_executable_comment_text_is_code_and_may_hold_several_statements() -> None:
    sql = "/*!40101 SET @a = ';*/'; SET @b = 2 */; ALTER TABLE t /*!40101 ADD c INT */; /*!99999 SET @c = 1; */;"
    assert split_statements(sql, "mysql", MARIADB) == [
        "/*!40101 SET @a = ';*/' */", "/*!40101  SET @b = 2 */", "ALTER TABLE t /*!40101 ADD c INT */",
    ]


def test_mysqldump_trigger_in_executable_comments_stays_whole() -> None:
    sql = (
        "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER g BEFORE INSERT ON t FOR EACH ROW BEGIN\n"
        "  SET NEW.a = 1;\n  CASE WHEN NEW.b THEN SET NEW.c = 1; END CASE;\nEND */;\nSELECT 1;"
    )
    statements = split_statements(sql, "mysql", MARIADB)
    assert len(statements) == 2 and statements[0].endswith("END */")


@pytest.mark.parametrize(
    "sql, dialect, expected",
    [
        ("SELECT 1 /* /* */ ; */ ; SELECT 2", "postgresql", ["SELECT 1 /* /* */ ; */", "SELECT 2"]),
        ("SELECT 1 /* /* */ ; SELECT 2", "mysql", ["SELECT 1 /* /* */", "SELECT 2"]),
        ("SELECT 1--1; SELECT 2", "mysql", ["SELECT 1--1", "SELECT 2"]),  # -- without a space is minus minus
        ("SELECT 1 --x;\nSELECT 2", "postgresql", ["SELECT 1 --x;\nSELECT 2"]),
        ("CREATE RULE r AS ON INSERT TO t DO ALSO (DELETE FROM a; DELETE FROM b); SELECT 1", "postgresql",
         ["CREATE RULE r AS ON INSERT TO t DO ALSO (DELETE FROM a; DELETE FROM b)", "SELECT 1"]),
        ("CREATE PROCEDURE p() BEGIN CASE WHEN 1 THEN SELECT 1; END CASE; SELECT 2; END; SELECT 3", "mysql",
         ["CREATE PROCEDURE p() BEGIN CASE WHEN 1 THEN SELECT 1; END CASE; SELECT 2; END", "SELECT 3"]),
    ],
)
def test_comments_and_blocks_end_where_the_server_ends_them(sql: str, dialect: str, expected: list) -> None:
    assert split_statements(sql, dialect) == expected


@pytest.mark.parametrize(
    "text, dialect, code",
    [
        ("/* a /* b */ COMMIT */", "postgresql", False),
        ("/* a /* b */ COMMIT */", "mysql", True),
        ("/* a /* b */ COMMIT */", "sqlite", True),
        ("/*!40101 COMMIT */", "mysql", True),
        ("/*!40101 COMMIT */", "postgresql", False),
        ("/*!40101 COMMIT */", "sqlite", False),
    ],
)
def test_every_comment_skipper_agrees(text: str, dialect: str, code: bool) -> None:
    assert has_statement(text, dialect) is code
    assert (first_word(text, dialect) == "COMMIT") is code
    if dialect != "sqlite":
        assert bool(split_statements(text, dialect)) is code


def test_mysql_sql_mode_set_by_the_migration_is_followed() -> None:
    sql = (
        "SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_BACKSLASH_ESCAPES'; INSERT INTO t VALUES ('C:\\');"
        " SET SQL_MODE=@OLD_SQL_MODE; INSERT INTO t VALUES ('it\\'s; x'); SET SESSION sql_mode = 'ANSI_QUOTES';"
        " SELECT \"a\\\"; SET sql_mode = DEFAULT; SELECT 1"
    )
    assert split_statements(sql, "mysql") == [
        "SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_BACKSLASH_ESCAPES'", "INSERT INTO t VALUES ('C:\\')",
        "SET SQL_MODE=@OLD_SQL_MODE", "INSERT INTO t VALUES ('it\\'s; x')", "SET SESSION sql_mode = 'ANSI_QUOTES'",
        'SELECT "a\\"', "SET sql_mode = DEFAULT", "SELECT 1",  # nothing after DEFAULT splits differently
    ]


def test_postgresql_standard_conforming_strings_set_by_the_migration_is_followed() -> None:
    sql = "SELECT 'C:\\'; SET LOCAL standard_conforming_strings = off; SELECT 'it\\'s; x'; SET LOCAL standard_conforming_strings TO 'on'; SELECT 'D:\\'"
    assert split_statements(sql, "postgresql") == [
        "SELECT 'C:\\'", "SET LOCAL standard_conforming_strings = off", "SELECT 'it\\'s; x'",
        "SET LOCAL standard_conforming_strings TO 'on'", "SELECT 'D:\\'",
    ]


@pytest.mark.parametrize(
    "sql, dialect, what",
    [
        ("SELECT 'abc; SELECT 1", "mysql", "unterminated string"),
        ("SELECT 'C:\\'; SELECT 1", "mysql", "unterminated string"),
        ("SELECT 'it\\'s; here'", "postgresql", "unterminated string"),
        ("SELECT 1 /* a /* b */ ; SELECT 2", "postgresql", "unterminated /* comment"),
        ("SELECT $a$ body", "postgresql", "dollar-quoted"),
        ("SELECT `name; SELECT 1", "mysql", "quoted name"),
        ("SELECT 1 /*!40101 , 2", "mysql", "executable comment"),
        ("SET sql_mode = @unknown; SELECT 'a\\'; b'", "mysql", "statement 1 sets sql_mode"),
    ],
)
def test_text_that_cannot_be_split_safely_raises(sql: str, dialect: str, what: str) -> None:
    with pytest.raises(SplitError, match=what.replace("$", "\\$").replace("*", "\\*")):
        split_statements(sql, dialect)


_VALUE = st.text(alphabet=st.sampled_from(list("ab;'\"\\/*-#$` \n")), max_size=10)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_VALUE, min_size=1, max_size=5), backslash=st.booleans(), gap=st.sampled_from(["\n", " ", ";;\n"]))
def test_quoted_values_never_split_under_either_backslash_mode(values: list, backslash: bool, gap: str) -> None:
    """Statements made of correctly quoted values come back whole, under the mode they were quoted for."""

    def quote(value: str) -> str:
        if backslash:
            value = value.replace("\\", "\\\\")
        return "'" + value.replace("'", "''") + "'"

    syntax = SqlSyntax("mysql", backslash_escapes=backslash, server_version=101119)
    statements = [f"SELECT {quote(value)}, `n;{value.replace('`', '``')}`" for value in values]
    assert split_statements(gap.join(s + ";" for s in statements), "mysql", syntax) == statements
    pg_statements = [f"SELECT {quote(value).replace(chr(92) * 2, chr(92)) if not backslash else 'E' + quote(value)}" for value in values]
    assert split_statements(gap.join(s + ";" for s in pg_statements), "postgresql") == pg_statements


def test_a_literal_sql_mode_after_an_unreadable_one_in_the_same_set_wins() -> None:
    sql = "SET sql_mode = CONCAT(@@sql_mode, ',X'), sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'C:\\'; SELECT 1"
    assert split_statements(sql, "mysql")[1:] == ["SELECT 'C:\\'", "SELECT 1"]


# -- MySQL routine bodies that are one compound statement without BEGIN ----------------------------

_BODIES = [
    "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW IF NEW.a < 0 THEN SET NEW.a = 0; END IF",
    "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW FOLLOWS `other` IF NEW.a < 0 THEN SET NEW.a = 0; ELSE SET NEW.a = 1; END IF",
    "CREATE PROCEDURE p() WHILE @i < 3 DO SET @i = @i + 1; INSERT INTO t VALUES (IF(@i > 1, 1, 0)); END WHILE",
    "CREATE PROCEDURE p() DETERMINISTIC COMMENT 'x;y' SQL SECURITY INVOKER l: LOOP SET @i = 1; LEAVE l; END LOOP l",
    "CREATE PROCEDURE p(IN a INT) REPEAT SET @i = @i + 1; UNTIL @i > CASE WHEN a THEN 3 ELSE 4 END END REPEAT",
    "CREATE FUNCTION f(a INT) RETURNS VARCHAR(10) CHARACTER SET utf8mb4 DETERMINISTIC "
    "CASE a WHEN 1 THEN RETURN 'a;'; ELSE RETURN REPEAT('x', 3); END CASE",
    "CREATE EVENT e ON SCHEDULE EVERY 1 DAY COMMENT 'do; it' DO IF 1 THEN INSERT INTO t VALUES (1); END IF",
    "ALTER EVENT e DO BEGIN INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); END",
    "CREATE PROCEDURE p() FOR i IN 1..3 DO INSERT INTO t VALUES (i); END FOR",
    "CREATE PROCEDURE p() IF a THEN IF b THEN SELECT 1; ELSEIF c THEN WHILE 0 DO SELECT 2; END WHILE; "
    "ELSE BEGIN SELECT 3; END; END IF; END IF",
    "CREATE PROCEDURE p() IF a THEN DECLARE CONTINUE HANDLER FOR SQLSTATE VALUE '23000', NOT FOUND IF 1 THEN SET @e = 1; END IF; "
    "SELECT CASE WHEN 1 THEN 2 END; END IF",
]


@pytest.mark.parametrize("routine", _BODIES)
def test_mysql_routine_body_without_begin_stays_whole(routine: str) -> None:
    assert split_statements(f"{routine};\nSELECT IF(1, 2, 3); SELECT REPEAT('a', 2);", "mysql") == [
        routine, "SELECT IF(1, 2, 3)", "SELECT REPEAT('a', 2)",
    ]


@pytest.mark.parametrize(
    "routine",
    [
        "CREATE FUNCTION f() RETURNS TEXT RETURN REPEAT('x', 3)",
        "CREATE FUNCTION f() RETURNS SET('a', 'b') RETURN IF(1, 'a', 'b')",
        "CREATE FUNCTION f(a INT) RETURNS INT DETERMINISTIC RETURN CASE WHEN a THEN 1 ELSE 2 END",
        "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET NEW.a = IF(NEW.a < 0, 0, NEW.a)",
        "CREATE PROCEDURE p() SELECT IF(1, 2, 3), REPEAT('x', 2)",
        "CREATE TABLE repeat_if (id INT, `if` INT)",
    ],
)
def test_mysql_simple_routine_bodies_and_functions_split_at_each_semicolon(routine: str) -> None:
    assert split_statements(f"{routine}; SELECT 1; SELECT IF(1, 2, 3)", "mysql") == [routine, "SELECT 1", "SELECT IF(1, 2, 3)"]


@pytest.mark.parametrize(
    "sql, what",
    [
        ("CREATE PROCEDURE p() IF a THEN SELECT 1; SELECT 2", "END is not reached"),
        ("CREATE PROCEDURE p() IF a; THEN SELECT 1; END IF; SELECT 2", "semicolon inside the condition of IF"),
        ("CREATE PROCEDURE p() l: LOOP SELECT 1; END IF; SELECT 2", "END IF where END LOOP"),
        ("CREATE PROCEDURE p() IF a THEN CREATE PROCEDURE q() SELECT 1; END IF", "CREATE PROCEDURE inside it"),
        ("CREATE PROCEDURE p() l: SELECT 1", "label of the procedure's body"),
    ],
)
def test_mysql_routine_body_that_cannot_be_read_with_certainty_is_refused(sql: str, what: str) -> None:
    with pytest.raises(SplitError, match=what) as raised:
        split_statements(sql, "mysql")
    assert "BEGIN ... END" in str(raised.value.advice)


def test_postgresql_routines_and_sqlite_style_words_split_as_before() -> None:
    sql = (
        "CREATE FUNCTION f(a int) RETURNS int AS $$ BEGIN IF a < 0 THEN RETURN 0; END IF; RETURN a; END $$ LANGUAGE plpgsql;\n"
        "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW EXECUTE FUNCTION g();\n"
        "SELECT CASE WHEN 1 = 1 THEN 2 END"
    )
    assert len(split_statements(sql, "postgresql")) == 3


# -- names with characters beyond ASCII -----------------------------------------------------------

#: A block body whose name holds a character beyond ASCII that Python does not call a letter (``€``):
#: every server reads it as part of the name, so ``a€END`` is one name, not ``a``, ``€`` and ``END``.
NON_ASCII_NAMES = {
    "postgresql": (
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS x€END; SELECT 2; END;\nSELECT 3;",
        ["CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS x€END; SELECT 2; END", "SELECT 3"],
    ),
    "mysql": (
        "CREATE PROCEDURE p() BEGIN UPDATE t SET a€END = 1; SELECT 1; END;\nSELECT 2;",
        ["CREATE PROCEDURE p() BEGIN UPDATE t SET a€END = 1; SELECT 1; END", "SELECT 2"],
    ),
}


@pytest.mark.parametrize("dialect", sorted(NON_ASCII_NAMES))
def test_a_name_with_a_character_beyond_ascii_is_one_word(dialect: str) -> None:
    """The lexer read ``€`` as punctuation, so ``a€END`` ended the block at its first ``;``."""
    sql, expected = NON_ASCII_NAMES[dialect]
    assert split_statements(sql, dialect) == expected
