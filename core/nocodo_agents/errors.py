"""Every error nocodo-agents raises, each deriving from :class:`MigrationError`.

Each class carries the facts of its case as attributes (version, agent,
distribution, file) so programs can act on them, and a message a person can
act on: what is wrong, where, and what to do next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional, Sequence, Tuple

from .excerpt import quote_message, quote_statement

if TYPE_CHECKING:  # pragma: no cover
    from .migration import Migration
    from .planning import PlannedMigration


class MigrationError(Exception):
    """Base class of every error raised by nocodo-agents."""


class InvalidMigrationError(MigrationError):
    """A migration module or object is malformed (name, version, SQL)."""

    def __init__(self, source: str, problem: str, agent: Optional[str] = None) -> None:
        self.source = source
        self.problem = problem
        self.agent = agent
        who = f" (agent {agent!r})" if agent else ""
        super().__init__(f"invalid migration {source}{who}: {problem}")


class PluginLoadError(MigrationError):
    """An agent plugin failed to import, its hook raised, or it returned something malformed."""

    def __init__(self, agent: str, distribution: str, cause: str) -> None:
        self.agent = agent
        self.distribution = distribution
        self.cause = cause
        super().__init__(
            f"agent {agent!r} from distribution {distribution} could not be loaded: {cause}. "
            f"Reinstall or upgrade {distribution}, or leave {agent!r} out of `agents=`."
        )


class DuplicateAgentError(MigrationError):
    """Two distributions register the same agent name (or one claims the reserved name ``core``)."""

    def __init__(self, agent: str, distributions: Sequence[str]) -> None:
        self.agent = agent
        self.distributions = tuple(distributions)
        listed = " and ".join(self.distributions)
        reserved = (
            " The name 'core' is reserved for the migrations of nocodo-agents itself."
            if agent == "core"
            else ""
        )
        super().__init__(
            f"agent name {agent!r} is registered by more than one distribution: {listed}.{reserved} "
            f"Uninstall one of them (pip uninstall ...) or ask its author to rename the "
            f"entry point in the 'nocodo_agents' group."
        )


class UnknownAgentError(MigrationError):
    """A requested agent is not installed (or not loaded: plugin autoload is disabled)."""

    def __init__(self, agent: str, installed: Iterable[str], install_hint: str, autoload_disabled: bool = False) -> None:
        self.agent = agent
        self.installed = tuple(sorted(installed))
        self.install_hint = install_hint
        self.autoload_disabled = autoload_disabled
        listed = ", ".join(self.installed) if self.installed else "none"
        if autoload_disabled:
            super().__init__(
                f"agent {agent!r} is not loaded: NOCODO_AGENTS_DISABLE_PLUGIN_AUTOLOAD is set, so no agent "
                f"is loaded from the installed distributions (loaded agents: {listed}). Unset it to use "
                f"installed agents, or register the agent in-process with AgentRegistry.from_plugins()."
            )
            return
        super().__init__(
            f"agent {agent!r} is not installed (installed agents: {listed}). "
            f"Install it with: {install_hint}"
        )


class MigrationConflictError(MigrationError):
    """Two requested migration sets claim the same version."""

    def __init__(
        self,
        version: int,
        first: Tuple[str, str, str],
        second: Tuple[str, str, str],
    ) -> None:
        """``first`` and ``second`` are (agent, distribution, migration source)."""
        self.version = version
        self.first = first
        self.second = second
        if first[0] == second[0]:
            super().__init__(
                f"version {version} is claimed twice within agent {first[0]!r} (distribution "
                f"{first[1]}): by {first[2]} and by {second[2]}. Nothing was changed. Renumber or "
                f"remove one of the two files (versions compare as numbers: V01 is V1)."
            )
            return
        super().__init__(
            f"version {version} is claimed twice: by {first[2]} of agent {first[0]!r} "
            f"(distribution {first[1]}) and by {second[2]} of agent {second[0]!r} "
            f"(distribution {second[1]}). Nothing was changed. Renumber one of them, or do "
            f"not request both agents in one run."
        )


class DivergentMigrationError(MigrationError):
    """An applied migration's name or checksum differs from the installed one."""

    def __init__(
        self,
        version: int,
        applied_name: str,
        applied_checksum: str,
        installed: "Migration",
        installed_checksum: int,
        agent: str,
        distribution: str,
        recorded_agent: Optional[str],
    ) -> None:
        self.version = version
        self.applied_name = applied_name
        self.applied_checksum = applied_checksum
        self.installed_name = installed.name
        self.installed_checksum = installed_checksum
        self.source = installed.source
        self.agent = agent
        self.distribution = distribution
        self.recorded_agent = recorded_agent
        if applied_name != installed.name:
            what = (
                f"the history records it as {applied_name!r} but the installed file "
                f"{installed.source} names it {installed.name!r}"
            )
        else:
            what = (
                f"its checksum in the history ({applied_checksum}) differs from the "
                f"installed file {installed.source} ({installed_checksum})"
            )
            if recorded_agent is not None:
                what += ": the file was edited after it was applied"
        if recorded_agent is None:
            origin = (
                " The history row has no agent attribution, so it was most likely written by "
                "refinery (for example by the original Rust nocodo-agents crate, whose SQL text "
                "differs byte for byte). If the schema is the one this migration creates, run "
                "`nocodo-agents repair` to re-record the checksums."
            )
        else:
            origin = (
                f" Restore the file to the text that was applied (distribution {distribution}), "
                f"or, if the change is intended and the schema already matches, run "
                f"`nocodo-agents repair`. Never edit a migration that has been applied: add a "
                f"new one."
            )
        super().__init__(
            f"applied migration V{version} of agent {agent!r} diverges: {what}.{origin}"
        )


class MigrationFailedError(MigrationError):
    """A statement of a migration (or rollback) failed.

    ``rolled_back`` says whether its transaction undid the statements before
    the failing one; ``journalled`` whether the journal keeps it (MySQL).
    """

    def __init__(
        self,
        version: int,
        name: str,
        agent: str,
        distribution: str,
        source: str,
        statement: str,
        statement_index: int,
        cause: BaseException,
        rolled_back: bool = True,
        phase: str = "migration",
        journalled: bool = False,
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.distribution = distribution
        self.source = source
        self.statement = statement
        self.statement_index = statement_index
        self.rolled_back = rolled_back
        self.phase = phase
        if rolled_back:
            left = "Its transaction was rolled back: the database and its history are as they were before it."
        else:
            left = "It ran outside a transaction: statements before the failing one stay applied."
        self.journalled = journalled
        what = "migration" if phase == "migration" else f"the {phase} of migration"
        if journalled:
            left = "This database commits DDL implicitly, so the statements before the failing one stay applied."
            then = (
                f"The journal remembers it and migrations will not run until it is resolved: fix the "
                f"{phase}, bring the schema to V{version} fully applied or fully absent by hand, then run "
                f"`nocodo-agents resolve {version} --applied` or `--absent`."
            )
            if phase == "rollback":
                left += f" V{version} is still recorded as applied."
                then = (
                    f"The journal remembers it and migrations (and rollbacks) will not run until it is resolved: "
                    f"fix the rollback, then either restore V{version}'s schema by hand and run "
                    f"`nocodo-agents resolve {version} --applied` (it stays applied: its history row is kept), "
                    f"or finish undoing it by hand and run `nocodo-agents resolve {version} --absent` (the "
                    f"rollback is complete: its history row is deleted)."
                )
        else:
            then = f"Fix the {phase} and run again."
        super().__init__(
            f"{what} V{version}__{name} of agent {agent!r} (distribution {distribution}, "
            f"{source}) failed at statement {statement_index + 1}: {quote_message(cause)}\n"
            f"  statement: {quote_statement(statement)}\n"
            f"{left} {then}"
        )


class PartialSchemaError(MigrationError):
    """A database without history holds only part of what a migration creates."""

    def __init__(self, version: int, name: str, agent: str, present: Sequence[str], missing: Sequence[str]) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.present = tuple(present)
        self.missing = tuple(missing)
        super().__init__(
            f"cannot adopt this database: it has no migration history, and of what migration "
            f"V{version}__{name} (agent {agent!r}) creates it holds {', '.join(self.present)} "
            f"but lacks {', '.join(self.missing)}. Nothing was changed. Create the missing "
            f"objects by hand or restore a backup, then run again (or adopt explicitly with "
            f"`nocodo-agents baseline`)."
        )


class AdoptionAmbiguousError(MigrationError):
    """A database without history is being adopted, and a migration that creates no schema object
    (it only changes rows or drops objects, or cannot be replayed on SQLite) cannot be judged applied or not."""

    def __init__(self, planned: "PlannedMigration", adopted: Sequence[int], touched: Sequence[str]) -> None:
        self.version = planned.version
        self.name = planned.name
        self.agent = planned.agent
        self.distribution = planned.distribution
        self.source = planned.source
        self.adopted = tuple(adopted)
        self.touched = tuple(touched)
        if self.touched:
            why = (
                f"it creates no schema object (it changes rows in, alters or drops {', '.join(self.touched)}, "
                f"which this database holds), so its effect cannot be seen in the schema"
            )
        else:
            why = (
                "what it does is unknown: its SQL for this database cannot be replayed after the migrations "
                "before it on a scratch database (it has none, it needs tables no migration creates, or, on a "
                "server, what its statements write to cannot be read from them), so it cannot be compared with "
                "the schema"
            )
        listed = ", ".join(f"V{v}" for v in self.adopted)
        super().__init__(
            f"cannot adopt this database: it has no migration history and holds the objects of {listed}, "
            f"but whether migration V{self.version}__{self.name} of agent {self.agent!r} (distribution "
            f"{self.distribution}, {self.source}) already ran cannot be told: {why}. Running it again could "
            f"duplicate or lose data, so nothing was changed. Record what the database already holds with "
            f"`nocodo-agents baseline --version V` (in Python: nocodo_agents.lifecycle.baseline(conn, V)), "
            f"where V is the last version whose effects it holds (V{self.version} if that migration already "
            f"ran here, an earlier one if not), then run `nocodo-agents migrate` to apply the rest."
        )


class ConnectionStateError(MigrationError):
    """The connection cannot be used as given (open transaction, unsupported driver)."""


class LockTimeoutError(MigrationError):
    """Another runner held the migration lock for longer than the allowed wait.

    ``done_before`` lists, as ``V<version>`` strings, what this run had
    already applied (or rolled back) and recorded before it had to wait; the
    message says so rather than claiming nothing changed.
    """

    def __init__(
        self,
        dialect: str,
        waited_seconds: float,
        cause: "BaseException | str | None" = None,
        done_before: Sequence[str] = (),
    ) -> None:
        self.dialect = dialect
        self.waited_seconds = waited_seconds
        self.cause = cause
        self.done_before = tuple(done_before)
        if self.done_before:
            changed = (
                f"Before it had to wait, this run had already done {', '.join(self.done_before)}, each recorded in "
                f"the history with its changes; nothing more was changed."
            )
        else:
            changed = "Nothing was changed by the waiting runner."
        super().__init__(
            f"could not take the {dialect} migration lock within {waited_seconds:g} s: another "
            f"runner (or a long transaction) holds it. {changed} Wait "
            f"for it to finish, or allow a longer wait (lock_timeout=, or --lock-timeout on the command "
            f"line)." + (f" Cause: {cause}" if cause else "")
        )

    def after(self, done_before: Sequence[str]) -> "LockTimeoutError":
        """The same timeout, told that this run had done ``done_before`` first (itself if nothing was)."""
        if not done_before:
            return self
        return LockTimeoutError(self.dialect, self.waited_seconds, self.cause, done_before)


class HistoryNotEmptyError(MigrationError):
    """``baseline`` was asked to adopt a database that already has migration history."""

    def __init__(self, applied_versions: Sequence[int]) -> None:
        self.applied_versions = tuple(applied_versions)
        listed = ", ".join(str(v) for v in self.applied_versions[:10])
        more = "..." if len(self.applied_versions) > 10 else ""
        super().__init__(
            f"the database already has migration history (versions {listed}{more}): baseline only "
            f"adopts a database without history. Use `nocodo-agents migrate --fake --target V` to "
            f"record further versions without running them."
        )


class RollbackUnavailableError(MigrationError):
    """A migration to roll back has no ``rollback()`` (or is not installed): nothing was changed."""

    def __init__(self, version: int, name: str, agent: Optional[str], source: Optional[str], reason: str) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.source = source
        where = f" ({source})" if source else ""
        super().__init__(
            f"cannot roll back V{version}__{name} of agent {agent!r}{where}: {reason}. Nothing was "
            f"changed. Add a rollback() function to the migration module, or roll back to a version "
            f"at or above {version}."
        )


class SchemaDriftError(MigrationError):
    """The live schema differs from what the applied migrations produce."""

    def __init__(self, differences: Sequence[object], action: str) -> None:
        self.differences = tuple(differences)
        listed = "\n".join(f"  {d}" for d in self.differences)
        super().__init__(
            f"refusing to {action}: the live schema differs from what the applied migrations "
            f"produce ({len(self.differences)} difference(s)):\n{listed}\nBring the schema back in "
            f"line (or restore a backup) first; `nocodo-agents verify` lists the drift."
        )


class DatabaseAccessError(MigrationError):
    """The database cannot be opened or written (missing, unreachable, read-only)."""

    def __init__(self, database: str, problem: str) -> None:
        self.database = database
        self.problem = problem
        super().__init__(f"cannot use database {database}: {problem}")


class SessionTimeoutError(DatabaseAccessError):
    """A timeout set on the caller's session cancelled a statement of the run.

    ``setting`` names it (``statement_timeout``, ``lock_timeout``, MariaDB's
    ``max_statement_time``, MySQL's ``max_execution_time``), ``value`` is its
    value as the server shows it, ``during`` what it cancelled. The runner's
    own wait for the migration lock is bounded by ``lock_timeout=`` alone;
    everything else of the run, a migration's statements included, runs
    under the session's timeouts.
    """

    def __init__(self, database: str, setting: str, value: str, during: str, left: str) -> None:
        self.setting = setting
        self.value = value
        self.during = during
        super().__init__(
            database,
            f"the session's {setting} = {value} cancelled {during}. {left} The runner's wait for its migration "
            f"lock is bounded by lock_timeout= alone, but a migration's statements (and the runner's own reads and "
            f"writes) run under the session's timeouts: raise or unset {setting} on the connection that runs the "
            f"migrations (for the command line: the URL's options parameter on PostgreSQL, ALTER ROLE ... SET "
            f"{setting} = ..., or the server's setting), then run again.",
        )


class StatementCancelledError(DatabaseAccessError):
    """Someone outside the run cancelled one of its statements (``pg_cancel_backend``, ``KILL QUERY``).

    Not the migration's fault, and the connection still works: ``during``
    says what was cancelled, and the message what it left.
    """

    def __init__(self, database: str, during: str, left: str, server_message: str) -> None:
        self.during = during
        self.server_message = server_message
        super().__init__(
            database,
            f"{during} was cancelled from outside the run ({server_message}: an operator's pg_cancel_backend or "
            f"KILL QUERY, or a tool doing so). {left} Find out who cancelled it, then run again.",
        )


class LockConflictError(DatabaseAccessError):
    """The server stopped a statement of the run over another session's locks (a deadlock, a lock wait timeout).

    Not a fault of the migration's SQL: ``during`` says what was stopped,
    ``server_message`` the server's words, and the message what it left.
    """

    def __init__(self, database: str, during: str, left: str, server_message: str, find_holder: str) -> None:
        self.during = during
        self.server_message = server_message
        super().__init__(
            database,
            f"{during} was stopped by the server over another session's locks ({server_message}), not because of "
            f"its SQL. {left} Find the session holding them ({find_holder}), let it finish or end it, then run again.",
        )


class ScaffoldError(MigrationError):
    """``new`` cannot create the requested migration module (bad name, version in use, no package)."""

    def __init__(self, target: str, problem: str) -> None:
        self.target = target
        self.problem = problem
        super().__init__(f"cannot create {target}: {problem}")


class DatabaseUrlError(MigrationError):
    """A database URL that cannot be used: malformed or of an unsupported kind (password redacted)."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"bad database URL {url}: {problem}")


class SchemaReplayError(MigrationError):
    """An applied migration fails when replayed on a scratch database, so no schema can be expected."""

    def __init__(
        self,
        planned: "PlannedMigration",
        statement: str,
        statement_index: int,
        cause: BaseException,
        scratch: str = "an empty in-memory SQLite database",
    ) -> None:
        self.scratch = scratch
        self.version = planned.version
        self.name = planned.name
        self.agent = planned.agent
        self.distribution = planned.distribution
        self.source = planned.source
        self.statement = statement
        self.statement_index = statement_index
        self.cause = cause
        super().__init__(
            f"cannot compute the expected schema: migration V{planned.version}__{planned.name} of agent "
            f"{planned.agent!r} (distribution {planned.distribution}, {planned.source}) fails at statement "
            f"{statement_index + 1} when replayed after the migrations before it on {scratch}: "
            f"{quote_message(cause)}\n  statement: {quote_statement(statement)}\n"
            f"The drift check needs every migration to build only on earlier migrations; one that "
            f"depends on tables or data the application creates cannot be checked this way. "
            f"The live database was not touched."
        )


class IncompleteMigrationError(MigrationError):
    """An earlier run stopped part-way through a migration (or its rollback) on a database without transactional DDL.

    ``direction`` is ``"migration"`` or ``"rollback"``: which of the two was interrupted.
    """

    def __init__(
        self, version: int, name: str, agent: str, statements: int, failed_index: int, error: str, direction: str = "migration"
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.statements = statements
        self.failed_index = failed_index
        self.error = error
        self.direction = direction
        if failed_index == 0:
            applied = "no statement was applied"
        elif failed_index == 1:
            applied = "statement 1 stays applied"
        else:
            applied = f"statements 1-{failed_index} stay applied"
        if direction == "rollback":
            super().__init__(
                f"the rollback of migration V{version}__{name} of agent {agent!r} stopped part-way on an earlier "
                f"run: statement {failed_index + 1} of {statements} of its rollback() failed ({quote_message(error)}); {applied}, "
                f"the rest did not run, and V{version} is still recorded as applied. This database's DDL is not "
                f"transactional, so nothing was undone and no migration or rollback will run until you resolve it. "
                f"Either restore V{version}'s schema by hand and run `nocodo-agents resolve {version} --applied` "
                f"(the migration stays applied: its history row is kept), or finish its rollback by hand and run "
                f"`nocodo-agents resolve {version} --absent` (the rollback is complete: its history row is deleted)."
            )
            return
        super().__init__(
            f"migration V{version}__{name} of agent {agent!r} stopped part-way on an earlier run: statement "
            f"{failed_index + 1} of {statements} failed ({quote_message(error)}); {applied}, the rest did not run. This "
            f"database's DDL is not transactional, so nothing was rolled back and no further migration "
            f"will run until you resolve it: bring the schema to either the migration fully applied or "
            f"fully absent by hand, then run `nocodo-agents resolve {version} --applied` or "
            f"`nocodo-agents resolve {version} --absent`."
        )


class HistoryRowError(MigrationError):
    """A row of the history table is malformed (NULL version, name or checksum)."""

    def __init__(self, table: str, row: Sequence[object], problem: str) -> None:
        self.table = table
        self.row = tuple(row)
        super().__init__(
            f"the history table {table} holds a malformed row {self.row!r}: {problem}. It was not written by "
            f"nocodo-agents or refinery; correct or delete that row by hand, then run again."
        )


class InvalidArgumentError(MigrationError, ValueError):
    """An argument of a library call is out of range (``lock_timeout=``, ``target=``): nothing was done."""


class HistoryTableError(MigrationError):
    """The history table cannot be used as it is: a view, missing columns, or constraints refusing our rows."""

    def __init__(self, table: str, database: str, problem: str) -> None:
        self.table = table
        self.database = database
        self.problem = problem
        super().__init__(
            f"the history table {table} in {database} {problem}. nocodo-agents (like refinery) needs a "
            f"table with the columns version, name, applied_on and checksum (it adds a nullable agent "
            f"column) and no other column it must fill. Correct the table by hand (or rename it away and "
            f"record what the schema holds with `nocodo-agents baseline`), then run again."
        )


class BookkeepingTableError(MigrationError):
    """A bookkeeping table (the history, or MySQL's journal) cannot keep its rows safely as it is stored.

    MySQL/MariaDB only. ``engine`` is the table's storage engine when it does
    not support transactions (``MyISAM``, ``Aria``, ``MEMORY``...): its rows
    would commit on their own instead of together with the migration's other
    bookkeeping. ``charset`` is the character set of a journal that cannot
    store every error text, or of a history ``agent`` column that cannot store
    every agent name (``latin1``...). ``fix`` is the statement that
    converts the table.
    """

    def __init__(
        self, table: str, database: str, fix: str, engine: Optional[str] = None, charset: Optional[str] = None,
        cause: Optional[str] = None,
    ) -> None:
        self.table = table
        self.database = database
        self.fix = fix
        self.engine = engine
        self.charset = charset
        problems = []
        if engine is not None:
            problems.append(
                f"uses the {engine} storage engine, which is not transactional: its rows would commit one by one, "
                f"outside the transaction that records a migration together with the removal of its journal entry, "
                f"so a run stopped between the two would leave it claiming a migration that did not finish"
            )
        if charset is not None:
            problems.append(f"stores its text as {charset}, which cannot hold every text it must (error messages, agent names)")
        tried = f" (converting it failed: {cause})" if cause else ""
        super().__init__(
            f"the bookkeeping table {table} in {database} {'; it '.join(problems) or 'cannot be used as it is'}{tried}. "
            f"Nothing was changed. Convert it, while no runner is running, with `{fix}`, then run again."
        )


class ForeignKeyViolationError(MigrationError):
    """A migration (or rollback) left rows whose foreign keys point at no parent row.

    On SQLite, found by ``PRAGMA foreign_key_check`` after its statements:
    ``violations`` holds ``(table, rowid, parent_table)`` for the new
    violations, at most the first 20. On PostgreSQL, a deferred foreign key
    checked at the end of the migration: ``violations`` is empty and the
    message quotes the server's.
    """

    def __init__(
        self,
        planned: "PlannedMigration",
        violations: Sequence[Tuple[str, Optional[int], str]],
        total: int,
        rolled_back: bool,
        phase: str = "migration",
        detail: Optional[str] = None,
    ) -> None:
        self.version = planned.version
        self.name = planned.name
        self.agent = planned.agent
        self.distribution = planned.distribution
        self.source = planned.source
        self.violations = tuple(violations)
        self.total = total
        self.rolled_back = rolled_back
        self.phase = phase
        listed = "; ".join(
            f"{table} row {rowid if rowid is not None else '(without rowid)'} references a missing row of {parent}"
            for table, rowid, parent in self.violations
        )
        more = f" (and {total - len(self.violations)} more)" if total > len(self.violations) else ""
        found = quote_message(detail) if detail is not None else f"leaves {total} row(s) violating a foreign key: {listed}{more}"
        what = "migration" if phase == "migration" else f"the {phase} of migration"
        if rolled_back:
            left = "Its transaction was rolled back: the database and its history are as they were before it."
        else:
            left = (
                "It ran outside a transaction (transactional = False), so its statements stay applied and it "
                "was not recorded: repair the rows by hand before running again."
            )
        super().__init__(
            f"{what} V{planned.version}__{planned.name} of agent {planned.agent!r} (distribution "
            f"{planned.distribution}, {planned.source}) {found}. {left} Make the {phase} keep every child row's parent (when rebuilding a "
            f"table, copy its rows into the new table before dropping the old one, as in SQLite's "
            f"'Making Other Kinds Of Table Schema Changes'), or delete or fix the orphaned rows in the same "
            f"{phase}, then run again."
        )


class TransactionControlError(InvalidMigrationError):
    """A migration's (or rollback's) SQL holds a statement that would end or escape the runner's transaction.

    Raised before any of the migration's statements run (for a run, before
    its first migration is applied). ``reason`` says what the statement would
    do; ``phase`` is ``"migration"`` or ``"rollback"``.
    """

    def __init__(self, planned: "PlannedMigration", statement: str, statement_index: int, reason: str, phase: str = "migration") -> None:
        self.version = planned.version
        self.name = planned.name
        self.agent = planned.agent
        self.distribution = planned.distribution
        self.source = planned.source
        self.statement = statement
        self.statement_index = statement_index
        self.reason = reason
        self.phase = phase
        self.problem = f"statement {statement_index + 1} of its {phase} {reason}"
        what = "migration" if phase == "migration" else "the rollback() of migration"
        MigrationError.__init__(
            self,
            f"{what} V{planned.version}__{planned.name} of agent {planned.agent!r} (distribution "
            f"{planned.distribution}, {planned.source}) controls transactions itself: statement "
            f"{statement_index + 1} {reason}.\n"
            f"  statement: {quote_statement(statement)}\n"
            f"None of its statements ran. Remove the statement: the runner wraps every migration and "
            f"rollback with its history row in one transaction and commits it itself. Statements that "
            f"cannot run inside a transaction (VACUUM, CREATE INDEX CONCURRENTLY) belong in a migration "
            f"of their own declared `transactional = False`; work that must commit separately belongs in "
            f"a separate migration (split it). Savepoints the migration creates itself may be used "
            f"(SAVEPOINT x, then ROLLBACK TO x or RELEASE x; not on MySQL). If the migration is already "
            f"applied, run `nocodo-agents repair` "
            f"after fixing the file to re-record its checksum.",
        )


class SessionStateError(InvalidMigrationError):
    """A migration's (or rollback's) SQL holds a statement changing the connection's session state for good.

    Such a change outlives the migration: later migrations, the runner and
    the caller's connection would run with it (another search_path, role,
    current database, pragma, temporary table...). Raised before any of the
    migration's statements run (for a run, before its first migration is
    applied). ``reason`` says what the statement would change, ``advice``
    what to write instead; ``phase`` is ``"migration"`` or ``"rollback"``.
    """

    def __init__(
        self, planned: "PlannedMigration", statement: str, statement_index: int, reason: str, advice: str, phase: str = "migration"
    ) -> None:
        self.version = planned.version
        self.name = planned.name
        self.agent = planned.agent
        self.distribution = planned.distribution
        self.source = planned.source
        self.statement = statement
        self.statement_index = statement_index
        self.reason = reason
        self.advice = advice
        self.phase = phase
        self.problem = f"statement {statement_index + 1} of its {phase} {reason}"
        what = "migration" if phase == "migration" else "the rollback() of migration"
        MigrationError.__init__(
            self,
            f"{what} V{planned.version}__{planned.name} of agent {planned.agent!r} (distribution "
            f"{planned.distribution}, {planned.source}) changes the connection's session state: statement "
            f"{statement_index + 1} {reason}.\n"
            f"  statement: {quote_statement(statement)}\n"
            f"None of its statements ran. {advice}. If the migration is already applied, run "
            f"`nocodo-agents repair` after fixing the file to re-record its checksum.",
        )


class UnsplittableSqlError(InvalidMigrationError):
    """A migration's (or rollback's) SQL cannot be split into statements as the server will read it.

    An unterminated string, quoted name, dollar quote or comment (the server
    would refuse the text, or the statements around it would be cut in the
    wrong places), or a ``SET sql_mode`` / ``standard_conforming_strings``
    whose value the text does not say, followed by statements that split
    differently depending on it, or (MySQL) a routine body that is one
    compound statement without ``BEGIN`` that cannot be read with certainty.
    Raised before any of the migration's statements run (for a run, before
    its first migration is applied). ``line`` and ``offset`` locate the
    problem in the SQL; ``phase`` is ``"migration"`` or ``"rollback"``;
    ``advice`` says what to do when it is not closing a string or comment.
    """

    def __init__(
        self, planned: "PlannedMigration", dialect: str, line: int, offset: int, reason: str, phase: str = "migration",
        advice: Optional[str] = None,
    ) -> None:
        self.version = planned.version
        self.name = planned.name
        self.agent = planned.agent
        self.distribution = planned.distribution
        self.source = planned.source
        self.dialect = dialect
        self.line = line
        self.offset = offset
        self.reason = reason
        self.phase = phase
        self.advice = advice
        self.problem = f"its {phase} SQL for {dialect} cannot be split into statements: {reason} (line {line})"
        what = "migration" if phase == "migration" else "the rollback() of migration"
        MigrationError.__init__(
            self,
            f"{what} V{planned.version}__{planned.name} of agent {planned.agent!r} (distribution "
            f"{planned.distribution}, {planned.source}) cannot be split into statements for {dialect}: "
            f"{reason}, at line {line} (offset {offset}) of its {phase} SQL. None of its statements ran. "
            + (
                f"{advice}. "
                if advice
                else "Close the string, quoted name or comment (on MySQL a backslash escapes the quote after it: write "
                "'C:\\\\' for C:\\), or set sql_mode / standard_conforming_strings to a literal value. "
            )
            + "If the migration is already applied, run `nocodo-agents repair` after fixing the file to re-record its checksum.",
        )


class TransactionEndedError(MigrationFailedError):
    """A statement of a migration (or rollback) ended the runner's transaction although it was not refused up front.

    The statements before it, and it, may have been committed (or undone):
    nothing claims a rollback. The migration was not recorded (a rollback's
    history row is kept).
    """

    def __init__(self, planned: "PlannedMigration", statement: str, statement_index: int, phase: str = "migration") -> None:
        self.version = planned.version
        self.name = planned.name
        self.agent = planned.agent
        self.distribution = planned.distribution
        self.source = planned.source
        self.statement = statement
        self.statement_index = statement_index
        self.rolled_back = False
        self.phase = phase
        self.journalled = False
        if phase == "migration":
            what = "migration"
            record = f"V{planned.version} was not recorded in the history"
        else:
            what = "the rollback() of migration"
            record = f"V{planned.version} is still recorded as applied"
        ran = "Statement 1" if statement_index == 0 else f"Statements 1-{statement_index + 1}"
        MigrationError.__init__(
            self,
            f"{what} V{planned.version}__{planned.name} of agent {planned.agent!r} (distribution "
            f"{planned.distribution}, {planned.source}) ended the runner's transaction at statement "
            f"{statement_index + 1}; the runner stopped right after it.\n"
            f"  statement: {quote_statement(statement)}\n"
            f"{ran} may have been committed (or undone) by it: the database "
            f"may hold part of the {phase}, and the runner could not roll it back. {record}. Check the "
            f"schema and bring it by hand to the state before the {phase} (or finish it), remove the "
            f"statement that ends the transaction, and run again.",
        )


class InvalidIndexError(MigrationFailedError):
    """A ``transactional = False`` migration (or its rollback) left an index PostgreSQL marks invalid.

    ``indexes`` are the invalid indexes (``pg_index.indisvalid = false``) of
    the database (any schema but the server's), schema-qualified: what a
    failed, cancelled or interrupted ``CREATE INDEX CONCURRENTLY`` leaves, and
    what ``IF NOT EXISTS`` then silently skips: those it left, and those
    invalid before it ran that its SQL names. ``already_invalid`` are the
    latter (an earlier failed build of this migration, or of one naming the
    same index). The migration is not recorded (a
    rollback's history row is kept); nothing is rolled back, since it ran
    outside a transaction. ``failure`` is the :class:`MigrationFailedError` of
    the statement that failed, if one did.
    """

    def __init__(
        self,
        planned: "PlannedMigration",
        indexes: Sequence[str],
        phase: str = "migration",
        failure: Optional[MigrationFailedError] = None,
        already_invalid: Sequence[str] = (),
    ) -> None:
        self.version = planned.version
        self.name = planned.name
        self.agent = planned.agent
        self.distribution = planned.distribution
        self.source = planned.source
        self.indexes = tuple(indexes)
        self.already_invalid = tuple(index for index in self.indexes if index in set(already_invalid))
        self.failure = failure
        self.statement = failure.statement if failure is not None else ""
        self.statement_index = failure.statement_index if failure is not None else -1
        self.rolled_back = False
        self.phase = phase
        self.journalled = False
        what = "migration" if phase == "migration" else "the rollback() of migration"
        left = [index for index in self.indexes if index not in self.already_invalid]
        if failure is not None:
            happened = f"failed at statement {failure.statement_index + 1} ({failure.__cause__ or failure.statement.strip()})"
        else:
            happened = "ran to its end"
        found = []
        if left:
            found.append(f"left invalid index(es) {', '.join(left)}")
        if self.already_invalid:
            found.append(
                f"invalid index(es) {', '.join(self.already_invalid)} remain, invalid already before it ran (an earlier "
                f"build that failed, of this migration or of another naming it)"
            )
        happened = f"{happened}{' and ' if left else ', but '}{' and '.join(found)}"
        record = (
            f"V{planned.version} was not recorded in the history"
            if phase == "migration"
            else f"V{planned.version} is still recorded as applied"
        )
        again = "migrate again" if phase == "migration" else "roll back again"
        drops = " ".join(f"DROP INDEX CONCURRENTLY {index};" for index in self.indexes)
        MigrationError.__init__(
            self,
            f"{what} V{planned.version}__{planned.name} of agent {planned.agent!r} (distribution "
            f"{planned.distribution}, {planned.source}) {happened} "
            f"(pg_index.indisvalid = false: a CONCURRENTLY build that failed or was interrupted; IF NOT EXISTS "
            f"skips such an index instead of building it). It ran outside a transaction (transactional = False), "
            f"so nothing of it was undone, and {record}. Drop the invalid index(es) with `{drops}`, fix what made "
            f"the build fail (duplicate rows for a UNIQUE index, a lock or statement timeout, a cancelled "
            f"session), then {again}. (An index another session is building right now also shows as invalid "
            f"until its build ends: then wait for it and {again}.)",
        )


class ResolveRefusedError(MigrationError, ValueError):
    """``resolve`` was asked to settle a version the journal does not hold, or cannot record it.

    Nothing was changed. (Also a :class:`ValueError`, as it used to be.)
    """

    def __init__(self, version: int, problem: str) -> None:
        self.version = version
        self.problem = problem
        super().__init__(f"cannot resolve V{version}: {problem}. Nothing was changed.")
