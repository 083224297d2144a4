"""Every error class carries its facts, keyword-only; its message names them; the command line adds its hints.

The table below holds, for every class ``nocodo_agents.errors`` exports,
facts to build it from (keywords only) and which of them its message does
not spell out (booleans, or facts that only choose the wording). A class
added without a row here fails :func:`test_every_error_class_is_in_the_table`.
``HINTS`` lists the classes whose advice names a ``nocodo-agents`` command:
the library's message says what to do in the library's terms, and
:func:`nocodo_agents.cli.hints.hint_for` gives the command the console
script prints after it.
"""

from __future__ import annotations

import inspect
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli

import nocodo_agents
import nocodo_agents.errors as errors
from nocodo_agents.cli.hints import hint_for
from nocodo_agents.database.migrations import run_agent_migrations
from nocodo_agents.discovery import AgentRegistry
from nocodo_agents.errors import (
    InvalidArgumentError,
    InvalidArgumentTypeError,
    MigrationError,
    MigrationFailedError,
)

MIGRATION = {
    "version": 4127,
    "name": "add_widgets",
    "agent": "widgets_agent",
    "distribution": "widgets-dist",
    "source": "widgets/migrations/V4127__add_widgets.py",
}
STATEMENT = {"statement": "CREATE TABLE widgets_table (id INT)", "statement_index": 2}
FAILURE = MigrationFailedError(**MIGRATION, **STATEMENT, cause="no such table: gadgets_table")

#: class -> (facts, facts its message need not spell out)
TABLE: dict[type[MigrationError], tuple[dict[str, Any], frozenset[str]]] = {
    errors.InvalidArgumentError: ({"argument": "target=", "value": -7, "expected": "a version between 0 and 9"}, frozenset()),
    errors.InvalidArgumentTypeError: ({"argument": "agents=", "value": "solo", "expected": "a list of agent names"}, frozenset()),
    errors.InvalidMigrationError: ({"source": "pkg/V9__bad_file.py", "problem": "the name must be V{version}__{name}", "agent": "bad_agent"}, frozenset()),
    errors.PluginLoadError: ({"agent": "broken_agent", "distribution": "broken-dist", "cause": "importing broken.plugin raised KeyError"}, frozenset()),
    errors.InstalledMetadataError: (
        {
            "distribution": "broken-dist", "version": "4.1.27", "path": "/venv/site-packages/broken_dist-4.1.27.dist-info/entry_points.txt",
            "problem": "line 2 of entry_points.txt, 'no equals sign', is not 'name = value'",
        },
        frozenset(),
    ),
    errors.DuplicateAgentError: ({"agent": "twice_agent", "distributions": ("first-dist", "second-dist")}, frozenset()),
    errors.UnknownAgentError: (
        {"agent": "missing_agent", "installed": ("core", "other_agent"), "install_hint": "pip install missing-agent-dist"},
        frozenset(),
    ),
    errors.RequiredAgentMissingError: (
        {
            "agent": "notes_agent", "required_by": "tasks_agent", "distribution": "tasks-dist",
            "install_hint": "pip install notes-dist", "guessed": False,
        },
        frozenset(),
    ),
    errors.RequirementOrderError: (
        {
            "operation": "migrate", "target": 4127, "agent": "tasks_agent", "distribution": "tasks-dist",
            "required_agent": "notes_agent", "required_distribution": "notes-dist",
            "agent_versions": [4100], "required_versions": [4200, 4300],
        },
        frozenset({"operation"}),
    ),
    errors.MigrationConflictError: (
        {"version": 4127, "first": ("agent_one", "dist-one", "one/V4127__a.py"), "second": ("agent_two", "dist-two", "two/V4127__b.py")},
        frozenset(),
    ),
    errors.HistoryAttributionError: (
        {"version": 4127, "agent": "agent_two", "recorded_agent": "agent_one", "database": "/srv/data/app.db"},
        frozenset(),
    ),
    errors.DivergentMigrationError: (
        {
            "version": 4127, "applied_name": "add_widgets", "applied_checksum": "1111", "installed_name": "add_widgets",
            "installed_checksum": 2222, "source": MIGRATION["source"], "agent": "widgets_agent",
            "distribution": "widgets-dist", "recorded_agent": "widgets_agent",
        },
        frozenset({"applied_name", "installed_name", "recorded_agent"}),  # the same name: the file's path says it
    ),
    errors.TransactionControlError: ({**MIGRATION, **STATEMENT, "reason": "commits the runner's transaction (COMMIT)"}, frozenset({"phase"})),
    errors.SessionStateError: (
        {**MIGRATION, **STATEMENT, "reason": "changes search_path", "advice": "Qualify the names instead"},
        frozenset({"phase"}),
    ),
    errors.UnsplittableSqlError: (
        {**MIGRATION, "dialect": "postgresql", "line": 31, "offset": 977, "reason": "an unterminated dollar-quoted string ($body$)"},
        frozenset({"phase", "advice"}),
    ),
    errors.MigrationFailedError: ({**MIGRATION, **STATEMENT, "cause": "no such table: gadgets_table"}, frozenset({"rolled_back", "phase", "journalled"})),
    errors.TransactionEndedError: ({**MIGRATION, **STATEMENT}, frozenset({"phase"})),
    errors.IncompleteMigrationError: (
        {"version": 4127, "name": "add_widgets", "agent": "widgets_agent", "statements": 9, "failed_index": 5, "error": "Duplicate column gizmo"},
        frozenset({"direction"}),
    ),
    errors.ForeignKeyViolationError: (
        {**MIGRATION, "violations": [("child_table", 17, "parent_table")], "total": 1, "rolled_back": True},
        frozenset({"rolled_back", "phase", "detail"}),
    ),
    errors.InvalidIndexError: (
        {**MIGRATION, "indexes": ["public.idx_widgets_name"], "failure": FAILURE},
        frozenset({"phase", "already_invalid"}),
    ),
    errors.ConnectionStateError: ({"problem": "the sqlite3 connection is inside a transaction: commit first"}, frozenset()),
    errors.DatabaseAccessError: ({"database": "/srv/data/app.db", "problem": "it is read-only"}, frozenset({"unfinished", "missing"})),
    errors.SessionTimeoutError: (
        {"database": "postgresql://app@db/app", "setting": "statement_timeout", "value": "250ms", "during": "a statement of the migration", "left": "Nothing stays."},
        frozenset({"unfinished"}),
    ),
    errors.StatementCancelledError: (
        {"database": "postgresql://app@db/app", "during": "A statement of the migration", "left": "Nothing stays.", "server_message": "canceling statement due to user request"},
        frozenset({"unfinished"}),
    ),
    errors.LockConflictError: (
        {
            "database": "mysql://app@db/app", "during": "A statement of the migration", "left": "Nothing stays.",
            "server_message": "Deadlock found", "find_holder": "SHOW ENGINE INNODB STATUS",
        },
        frozenset({"unfinished"}),
    ),
    errors.LockTimeoutError: ({"dialect": "postgresql", "waited_seconds": 12.5, "cause": "held by pid 4242", "done_before": ("V7", "V8")}, frozenset()),
    errors.HistoryRowError: ({"table": "refinery_schema_history", "row": (None, "x", None, "1"), "problem": "version must not be NULL"}, frozenset()),
    errors.HistoryTableError: ({"table": "refinery_schema_history", "database": "/srv/data/app.db", "problem": "is a view"}, frozenset()),
    errors.HistoryWideningError: (
        {
            "database": "/srv/data/app.db", "rows": [(50, "rust_side", None), (4127, "add_widgets", "widgets_agent")],
            "needed_by": (20261201120000, "create_notes", "notes_agent"),
        },
        frozenset(),
    ),
    errors.BookkeepingTableError: (
        {
            "table": "refinery_schema_history", "database": "mysql://app@db/app", "engine": "MyISAM",
            "fix": "ALTER TABLE refinery_schema_history ENGINE=InnoDB", "cause": "denied to user app",
        },
        frozenset({"charset"}),
    ),
    errors.PartialSchemaError: (
        {"version": 4127, "name": "add_widgets", "agent": "widgets_agent", "present": ["widgets_table"], "missing": ["gadgets_table"]},
        frozenset(),
    ),
    errors.AdoptionAmbiguousError: ({**MIGRATION, "adopted": (1, 2, 3), "touched": ("colours_table",)}, frozenset()),
    errors.HistoryNotEmptyError: ({"applied_versions": (1, 2, 4127)}, frozenset()),
    errors.RollbackUnavailableError: (
        {"version": 4127, "name": "add_widgets", "agent": "widgets_agent", "source": MIGRATION["source"], "reason": "the migration defines no rollback()"},
        frozenset(),
    ),
    errors.SchemaDriftError: ({"differences": ["missing table gadgets_table"], "action": "repair the history"}, frozenset()),
    errors.SchemaReplayError: ({**MIGRATION, **STATEMENT, "cause": "no such table: gadgets_table", "scratch": "a scratch schema"}, frozenset()),
    errors.ResolveRefusedError: ({"version": 4127, "problem": "it is not an unfinished migration or rollback"}, frozenset({"needs_agent"})),
    errors.GroupedRunRefusedError: (
        {
            "dialect": "sqlite", "database": "/srv/data/app.db", "reason": "non_transactional",
            "migrations": ["V4127__add_index (agent widgets_agent, distribution widgets, widgets/migrations/V4127__add_index.py)"],
        },
        frozenset({"reason"}),
    ),
    errors.ScaffoldError: ({"target": "widgets.migrations.V4128__more", "problem": "the file already exists"}, frozenset()),
    errors.InstalledCopyError: (
        {"path": "/venv/lib/site-packages/widgets/migrations/V4128__more.py", "installed_in": "/venv/lib/site-packages", "package": "widgets.migrations"},
        frozenset(),
    ),
    errors.DatabaseUrlError: ({"url": "mysql://app:***@db", "problem": "name the database"}, frozenset()),
    errors.ConfigError: ({"source": "/app/pyproject.toml [tool.nocodo-agents]", "key": "lock-timeout", "problem": "it must be a number of seconds"}, frozenset()),
    errors.RowNotFoundError: ({"missing": [("session", 4127), ("message", 99)], "detail": "FOREIGN KEY constraint failed"}, frozenset()),
    errors.RejectedValueError: ({"argument": "role", "value": "robot", "problem": "invalid message role 'robot'"}, frozenset()),
    errors.SessionNotPausedError: ({"session_id": 4127, "status": "completed"}, frozenset()),
}

#: class -> (facts beyond the table's, what the library's message says instead, the command the hint holds)
HINTS: dict[type[MigrationError], tuple[dict[str, Any], str, str]] = {
    errors.DivergentMigrationError: ({}, "repair_history(conn)", "`nocodo-agents repair`"),
    errors.TransactionControlError: ({}, "repair_history(conn)", "`nocodo-agents repair` after fixing the file"),
    errors.SessionStateError: ({}, "repair_history(conn)", "`nocodo-agents repair` after fixing the file"),
    errors.UnsplittableSqlError: ({}, "repair_history(conn)", "`nocodo-agents repair` after fixing the file"),
    errors.MigrationFailedError: (
        {"journalled": True, "rolled_back": False}, "resolve_unfinished(conn, 4127, applied=True)",
        "`nocodo-agents resolve 4127 --applied` or `--absent`",
    ),
    errors.IncompleteMigrationError: (
        {}, "resolve_unfinished(conn, 4127, applied=False)",
        "`nocodo-agents resolve 4127 --applied` or `nocodo-agents resolve 4127 --absent`",
    ),
    errors.DatabaseAccessError: (
        {"missing": True, "problem": "the file does not exist. Check the path, or run the migrations to create it (the command line's migrate)."},
        "run the migrations to create it", "`nocodo-agents migrate` to create it",
    ),
    errors.SessionTimeoutError: ({"unfinished": (4127,)}, "statement_timeout", "`nocodo-agents resolve 4127 --applied` or `--absent`"),
    errors.PartialSchemaError: ({}, "lifecycle.baseline(conn, version)", "`nocodo-agents baseline`"),
    errors.AdoptionAmbiguousError: ({}, "lifecycle.baseline(conn, V)", "`nocodo-agents baseline --version V`"),
    errors.HistoryNotEmptyError: ({}, "record_as_applied(conn, target=V)", "`nocodo-agents migrate --fake --target V`"),
    errors.SchemaDriftError: ({}, "verify_database(conn)", "`nocodo-agents verify` lists the drift"),
    errors.LockTimeoutError: ({}, "lock_timeout=", "--lock-timeout"),
    errors.HistoryTableError: ({}, "lifecycle.baseline(conn, version)", "`nocodo-agents baseline`"),
    errors.ResolveRefusedError: ({"needs_agent": True}, "cannot resolve V4127", "`--agent NAME`"),
    errors.InstalledCopyError: ({}, "force=True", "`--force`"),
    errors.HistoryWideningError: ({}, "widen_history(conn, keep_unverified=True)", "`nocodo-agents widen-history --keep-unverified`"),
}

#: What the library's messages must not hold: a command of the console script, or one of its options.
CLI_ADVICE = re.compile(r"nocodo-agents (resolve|repair|baseline|migrate|verify|status|rollback|new|agents)\b|(?<![\w-])--[a-z]")


def exported_classes():
    return [getattr(errors, name) for name in errors.__all__ if inspect.isclass(getattr(errors, name))]


def spelled(key: str, value: Any) -> list[str]:
    """The texts a message holds for a fact (numbers and text as written; sequences item by item)."""
    if key in ("statement_index", "failed_index"):
        return [f"statement {value + 1}"]  # counted from 1 in the message
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, float):
        return [f"{value:g}"]
    if isinstance(value, (int, str)):
        return [str(value)]
    if isinstance(value, BaseException):
        return [str(value).splitlines()[0][:40]]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in spelled("", item)]
    return [str(value)]


def test_every_error_class_is_in_the_table() -> None:
    classes = exported_classes()
    assert all(issubclass(cls, MigrationError) for cls in classes)
    missing = {cls.__name__ for cls in classes} - {cls.__name__ for cls in TABLE} - {"MigrationError"}
    assert not missing, f"add a row to TABLE for {sorted(missing)}"
    for cls in classes:
        assert getattr(nocodo_agents, cls.__name__) is cls and cls.__name__ in nocodo_agents.__all__


@pytest.mark.parametrize("cls", list(TABLE), ids=lambda cls: cls.__name__)
def test_the_constructor_takes_facts_by_keyword_only(cls: type[MigrationError]) -> None:
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert parameters and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters), parameters
    facts, _ = TABLE[cls]
    with pytest.raises(TypeError):
        cls(*facts.values())


@pytest.mark.parametrize("cls", list(TABLE), ids=lambda cls: cls.__name__)
def test_an_error_keeps_each_fact_and_its_message_names_them(cls: type[MigrationError]) -> None:
    facts, unnamed = TABLE[cls]
    error = cls(**facts)
    message = str(error)
    for key, value in facts.items():
        kept = getattr(error, key)
        if isinstance(value, list):
            assert tuple(kept) == tuple(value), key
        else:
            assert kept == value, key
        if key not in unnamed:
            for text in spelled(key, value):
                assert text in message, f"{cls.__name__}: {key}={value!r} ({text!r}) is not named in {message!r}"
    assert not CLI_ADVICE.search(message), f"{cls.__name__} names the command line: {message!r}"


@pytest.mark.parametrize("cls", list(HINTS), ids=lambda cls: cls.__name__)
def test_the_command_line_hint_holds_the_command_the_message_once_named(cls: type[MigrationError]) -> None:
    facts, unnamed = TABLE[cls]
    extra, library_advice, command = HINTS[cls]
    error = cls(**{**facts, **extra})
    message = str(error)
    assert library_advice in message, message
    assert not CLI_ADVICE.search(message), message
    hint = hint_for(error)
    assert hint is not None and command in hint, hint


def test_facts_that_call_for_no_command_give_no_hint() -> None:
    facts, _ = TABLE[errors.MigrationFailedError]
    assert hint_for(errors.MigrationFailedError(**facts)) is None  # rolled back: run again, no command
    assert hint_for(errors.DatabaseAccessError(database="/srv/data/app.db", problem="it is read-only")) is None
    assert hint_for(errors.ResolveRefusedError(version=3, problem="it is not an unfinished migration")) is None
    assert hint_for(errors.InvalidMigrationError(source="pkg/V9__x.py", problem="bad")) is None
    assert hint_for(ValueError("not ours")) is None


def test_a_rollback_left_unfinished_gets_the_two_commands_with_what_each_does() -> None:
    facts, _ = TABLE[errors.IncompleteMigrationError]
    error = errors.IncompleteMigrationError(**{**facts, "direction": "rollback"})
    assert "resolve_unfinished(conn, 4127, applied=True) (the migration stays applied" in str(error)
    hint = hint_for(error)
    assert "`nocodo-agents resolve 4127 --applied` (the migration stays applied: its history row is kept)" in hint
    assert "`nocodo-agents resolve 4127 --absent` (the rollback is complete: its history row is deleted)" in hint


def test_migration_facts_names_a_planned_migration() -> None:
    from nocodo_agents.errors import migration_facts

    class Planned:
        version, name, agent, distribution, source = 7, "x", "a", "d", "s.py"

    assert migration_facts(Planned()) == {"version": 7, "name": "x", "agent": "a", "distribution": "d", "source": "s.py"}


def test_lock_timeout_after_keeps_the_facts() -> None:
    facts, _ = TABLE[errors.LockTimeoutError]
    first = errors.LockTimeoutError(**{**facts, "done_before": ()})
    later = first.after(["V3"])
    assert (later.dialect, later.waited_seconds, later.cause, later.done_before) == ("postgresql", 12.5, "held by pid 4242", ("V3",))
    assert first.after([]) is first


# No bare ValueError/TypeError from the public API: bad arguments are InvalidArgumentError (a ValueError),
# a wrong type InvalidArgumentTypeError (also a TypeError), each carrying the argument, the value and what it must be.


def test_a_single_string_for_agents_is_an_invalid_argument_type_error() -> None:
    conn = sqlite3.connect(":memory:")
    with pytest.raises(InvalidArgumentTypeError) as raised:
        run_agent_migrations(conn, agents="requirements_qna", registry=AgentRegistry([]))
    error = raised.value
    assert isinstance(error, TypeError) and isinstance(error, ValueError) and isinstance(error, MigrationError)
    assert (error.argument, error.value) == ("agents=", "requirements_qna")
    assert "agents=['requirements_qna']" in str(error)
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone() == (0,), "nothing was written"
    with pytest.raises(InvalidArgumentTypeError):
        AgentRegistry([]).requested_sets("core")


@pytest.mark.parametrize("target", [-1, 2**63, "5", 1.5])
def test_a_target_out_of_range_is_an_invalid_argument_error(target: Any) -> None:
    from nocodo_agents.lifecycle import record_as_applied

    conn = sqlite3.connect(":memory:")
    with pytest.raises(InvalidArgumentError) as raised:
        record_as_applied(conn, target=target, registry=AgentRegistry([]))
    assert (raised.value.argument, raised.value.value) == ("target=", target)
    assert f"not {target!r}" in str(raised.value)


@pytest.mark.parametrize("lock_timeout", [-1, float("inf"), float("nan"), True, "5"])
def test_a_lock_timeout_out_of_range_is_an_invalid_argument_error(lock_timeout: Any) -> None:
    conn = sqlite3.connect(":memory:")
    with pytest.raises(InvalidArgumentError) as raised:
        run_agent_migrations(conn, registry=AgentRegistry([]), lock_timeout=lock_timeout)
    assert raised.value.argument == "lock_timeout=" and raised.value.value is lock_timeout
    assert isinstance(raised.value, ValueError) and not isinstance(raised.value, TypeError)


# The console script prints the library's message, then its own hint naming the command.


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.with_empty_site(tmp_path)


def test_the_console_script_prints_the_hint_after_the_message(cli: Cli) -> None:
    result = cli("verify", "--db", "missing.db")
    assert result.code == 6, result.text
    lines = result.err.splitlines()
    assert lines[0].startswith("nocodo-agents: error: cannot use database") and "does not exist" in lines[0]
    assert "the command line's migrate" in lines[0] and "nocodo-agents migrate" not in lines[0]
    assert lines[1] == "nocodo-agents: hint: run `nocodo-agents migrate` to create it"
    assert not (cli.cwd / "missing.db").exists()


def test_the_console_script_prints_no_hint_where_there_is_no_command(cli: Cli) -> None:
    result = cli("status", "--db", "bogus://somewhere")
    assert result.code == 2, result.text
    assert "nocodo-agents: error: bad database URL" in result.err and "hint:" not in result.err


# The Database store: a missing row, a rejected value, a value that is not JSON, each a named error that is
# also the KeyError / ValueError / TypeError the store raised before.


def test_the_store_raises_named_errors_that_are_still_key_and_value_errors(tmp_path: Path) -> None:
    from nocodo_agents import Database, RejectedValueError, RowNotFoundError, SessionNotPausedError

    with Database(tmp_path / "store.db", agents=[], registry=AgentRegistry([])) as db:
        with pytest.raises(RowNotFoundError) as missing:
            db.get_session(4127)
        assert isinstance(missing.value, KeyError) and missing.value.missing == (("session", 4127),)
        assert str(missing.value) == "no session with id 4127"
        with pytest.raises(RowNotFoundError) as missing:
            db.complete_tool_call(404, {"ok": True})
        assert missing.value.missing == (("tool call", 404),)
        session_id = db.create_session("coder", "openai", "gpt-4o", "prompt")
        with pytest.raises(RowNotFoundError) as missing:
            db.create_tool_call(session_id, "c1", "search", {}, message_id=99)
        assert missing.value.missing == (("message", 99),) and "FOREIGN KEY" in (missing.value.detail or "")
        with pytest.raises(RejectedValueError) as rejected:
            db.add_message(session_id, "robot", "beep")
        assert isinstance(rejected.value, ValueError) and (rejected.value.argument, rejected.value.value) == ("role", "robot")
        with pytest.raises(RejectedValueError) as rejected:
            db.list_sessions(status="done")
        assert (rejected.value.argument, rejected.value.value) == ("status", "done")
        with pytest.raises(SessionNotPausedError) as not_paused:
            db.resume_session(session_id)
        assert isinstance(not_paused.value, ValueError) and (not_paused.value.session_id, not_paused.value.status) == (session_id, "running")
        with pytest.raises(InvalidArgumentTypeError) as not_json:
            db.create_tool_call(session_id, "c1", "search", {"when": object()})
        assert isinstance(not_json.value, TypeError) and not_json.value.argument == "request="
        assert db.list_tool_calls(session_id) == [], "nothing was written"
