"""Splitting PostgreSQL and MySQL scripts into statements."""

import pytest

from nocodo_agents.sql_split import split_statements


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


def test_transaction_begin_is_not_a_block() -> None:
    assert split_statements("BEGIN; INSERT INTO t VALUES (1); COMMIT;", "mysql") == ["BEGIN", "INSERT INTO t VALUES (1)", "COMMIT"]


def test_postgresql_begin_atomic_function_body() -> None:
    sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\nSELECT f();"
    assert split_statements(sql, "postgresql") == [
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END", "SELECT f()",
    ]
