"""Errors of the operations beside applying: adoption, baseline, rollback, drift, resolve, scaffolding, URLs."""

from __future__ import annotations

from collections.abc import Sequence

from ..excerpt import quote_message, quote_statement
from .base import MigrationError

#: How a library user records what a database without history holds (the command line's ``baseline``).
BASELINE_CALL = "nocodo_agents.lifecycle.baseline(conn, version)"


class PartialSchemaError(MigrationError):
    """A database without history holds only part of what a migration creates."""

    def __init__(self, *, version: int, name: str, agent: str, present: Sequence[str], missing: Sequence[str]) -> None:
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
            f"{BASELINE_CALL}, the command line's baseline)."
        )


class AdoptionAmbiguousError(MigrationError):
    """A database without history is being adopted, and a migration that creates no schema object
    (it only changes rows or drops objects, or cannot be replayed on SQLite) cannot be judged applied or not.

    ``adopted`` are the versions whose objects the database holds, ``touched``
    the objects the migration changes that the database holds.
    """

    def __init__(
        self, *, version: int, name: str, agent: str, distribution: str, source: str,
        adopted: Sequence[int], touched: Sequence[str],
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.distribution = distribution
        self.source = source
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
            f"but whether migration V{version}__{name} of agent {agent!r} (distribution "
            f"{distribution}, {source}) already ran cannot be told: {why}. Running it again could "
            f"duplicate or lose data, so nothing was changed. Record what the database already holds with "
            f"nocodo_agents.lifecycle.baseline(conn, V) (the command line's baseline), where V is the last version "
            f"whose effects it holds (V{version} if that migration already ran here, an earlier one if not), then "
            f"run the migrations again to apply the rest."
        )


class HistoryNotEmptyError(MigrationError):
    """``baseline`` was asked to adopt a database that already has migration history."""

    def __init__(self, *, applied_versions: Sequence[int]) -> None:
        self.applied_versions = tuple(applied_versions)
        listed = ", ".join(str(v) for v in self.applied_versions[:10])
        more = "..." if len(self.applied_versions) > 10 else ""
        super().__init__(
            f"the database already has migration history (versions {listed}{more}): baseline only "
            f"adopts a database without history. Record further versions without running them with "
            f"nocodo_agents.lifecycle.record_as_applied(conn, target=V) (the command line's fake migrate)."
        )


class RollbackUnavailableError(MigrationError):
    """A migration to roll back has no ``rollback()``, or no requested agent provides it (``not_requested``): nothing was changed."""

    def __init__(
        self,
        *,
        version: int,
        name: str,
        agent: str | None,
        source: str | None,
        reason: str,
        not_requested: bool = False,
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.source = source
        self.reason = reason
        self.not_requested = not_requested
        where = f" ({source})" if source else ""
        if not_requested:
            remedy = (
                f"To roll it back, request agent {agent!r} too (agents=[...]; the command line's --agent), "
                f"installing its distribution first if it is not installed"
            )
        else:
            remedy = "Add a rollback() function to the migration module"
        super().__init__(
            f"cannot roll back V{version}__{name} of agent {agent!r}{where}: {reason}. Nothing was "
            f"changed. {remedy}, or roll back to a version at or above {version}."
        )


class SchemaDriftError(MigrationError):
    """The live schema differs from what the applied migrations produce; ``action`` is what was refused."""

    def __init__(self, *, differences: Sequence[object], action: str) -> None:
        self.differences = tuple(differences)
        self.action = action
        listed = "\n".join(f"  {d}" for d in self.differences)
        super().__init__(
            f"refusing to {action}: the live schema differs from what the applied migrations "
            f"produce ({len(self.differences)} difference(s)):\n{listed}\nBring the schema back in "
            f"line (or restore a backup) first; nocodo_agents.lifecycle.verify_database(conn) (the command "
            f"line's verify) lists the drift."
        )


class SchemaReplayError(MigrationError):
    """An applied migration fails when replayed on a scratch database, so no schema can be expected.

    ``scratch`` says which scratch database; ``cause`` is its error.
    """

    def __init__(
        self, *, version: int, name: str, agent: str, distribution: str, source: str,
        statement: str, statement_index: int, cause: BaseException | str,
        scratch: str = "an empty in-memory SQLite database",
    ) -> None:
        self.version = version
        self.name = name
        self.agent = agent
        self.distribution = distribution
        self.source = source
        self.statement = statement
        self.statement_index = statement_index
        self.cause = cause
        self.scratch = scratch
        super().__init__(
            f"cannot compute the expected schema: migration V{version}__{name} of agent "
            f"{agent!r} (distribution {distribution}, {source}) fails at statement "
            f"{statement_index + 1} when replayed after the migrations before it on {scratch}: "
            f"{quote_message(cause)}\n  statement: {quote_statement(statement)}\n"
            f"The drift check needs every migration to build only on earlier migrations; one that "
            f"depends on tables or data the application creates cannot be checked this way. "
            f"The live database was not touched."
        )


class ResolveRefusedError(MigrationError, ValueError):
    """``resolve`` was asked to settle a version the journal does not hold, or cannot record it.

    Nothing was changed. (Also a :class:`ValueError`, as it used to be.)
    ``needs_agent``: the version is not installed, or its agent was not
    requested, so it cannot be recorded as applied.
    """

    def __init__(self, *, version: int, problem: str, needs_agent: bool = False) -> None:
        self.version = version
        self.problem = problem
        self.needs_agent = needs_agent
        super().__init__(f"cannot resolve V{version}: {problem}. Nothing was changed.")


class ScaffoldError(MigrationError):
    """``new`` cannot create the requested migration module (bad name, version in use, no package)."""

    def __init__(self, *, target: str, problem: str) -> None:
        self.target = target
        self.problem = problem
        super().__init__(f"cannot create {target}: {problem}")


class InstalledCopyError(ScaffoldError):
    """``new`` refused to write into an installed copy of the agent (site-packages), not its source tree.

    ``path`` is the file it would have written, ``installed_in`` the
    site-packages (or dist-packages) directory holding that copy,
    ``package`` the migrations package. Nothing was written.
    """

    def __init__(self, *, path: str, installed_in: str, package: str) -> None:
        self.path = path
        self.installed_in = installed_in
        self.package = package
        self.target = path
        self.problem = f"{package} resolves to an installed copy in {installed_in}"
        MigrationError.__init__(
            self,
            f"refused to create {path}: the migrations package {package} resolves to an installed copy in "
            f"{installed_in}, not to the agent's source tree. A file written there is lost when the distribution is "
            f"reinstalled or upgraded, and never reaches the published distribution. Install the agent from its "
            f"source tree in editable mode (pip install -e path/to/the/agent) and run this again, or pass "
            f"force=True to write into the installed copy anyway. Nothing was written.",
        )


class DatabaseUrlError(MigrationError):
    """A database URL that cannot be used: malformed or of an unsupported kind (password redacted)."""

    def __init__(self, *, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"bad database URL {url}: {problem}")
