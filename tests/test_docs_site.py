"""The documentation site builds strictly, and what it claims to cover is on it.

``mkdocs build --strict`` (a warning is an error: a broken link, a missing
snippet of the README, a cross-reference to nothing) runs once per session
into a temporary directory; then every page of the nav must exist, the hook
reference must document every hookspec, the command-line reference (generated
at build time from the real parser) must list every command and option, and
the test file shown on "Testing an agent" must pass against the agent
"Writing an agent" builds. The README, the short entry point, must link to
every page of the site, and every relative link of it must name a file of the
repository (GitHub renders them). The other Python examples (the README's
quickstart, "Getting started", the ``Database`` example, the checksums) run
as written, and the commands page lists every exit code.

The tools come from the ``docs`` extra, which ``tests/bootstrap.sh`` installs.
Without them the tests skip, except under CI (``CI`` set), where they fail:
CI must build the site.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "mkdocs.yml"
DOCS = ROOT / "docs"


def _need_mkdocs() -> None:
    try:
        import mkdocs  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError as error:
        reason = f"the docs extra is not installed ({error}): pip install -e '.[docs]'"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must build the documentation site: tests/bootstrap.sh installs it)")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built with ``mkdocs build --strict`` into a temporary directory."""
    _need_mkdocs()
    directory = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(CONFIG), "--site-dir", str(directory)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return directory


def _nav_files(nav: object) -> Iterator[str]:
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from _nav_files(value)
    elif isinstance(nav, list):
        for item in nav:
            yield from _nav_files(item)


def _nav() -> list[str]:
    from mkdocs.config import load_config

    config = load_config(str(CONFIG))
    return list(_nav_files(config["nav"]))


def _built(site: Path, page: str) -> str:
    """The HTML built from ``docs/<page>`` (``a/b.md`` -> ``a/b/index.html``, ``index.md`` -> ``index.html``)."""
    stem = page[: -len(".md")]
    path = site / "index.html" if stem == "index" else site / stem / "index.html"
    assert path.is_file(), f"{page} was not built to {path}"
    return path.read_text(encoding="utf-8")


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_every_page_of_the_nav_exists_and_is_built(site: Path) -> None:
    pages = _nav()
    assert {"index.md", "reference/hooks.md", "reference/api.md", "reference/cli.md", "dialects.md"} <= set(pages)
    missing = [page for page in pages if not (DOCS / page).is_file()]
    assert not missing, f"the nav of mkdocs.yml names pages that do not exist under docs/: {missing}"
    for page in pages:
        assert _text(_built(site, page)).strip()
    on_disk = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    assert on_disk <= set(pages), f"pages missing from the nav: {sorted(on_disk - set(pages))}"


def test_no_snippet_of_the_readme_is_left_unexpanded(site: Path) -> None:
    for page in _nav():
        assert "--8&lt;--" not in _built(site, page) and "--8<--" not in _built(site, page), page


def test_the_hook_reference_documents_every_hookspec(site: Path) -> None:
    from nocodo_agents import hookspecs

    marker = f"{hookspecs.PROJECT_NAME}_spec"  # the attribute pluggy's HookspecMarker sets
    names = sorted(name for name, value in vars(hookspecs).items() if callable(value) and hasattr(value, marker))
    assert "nocodo_agents_migrations" in names, names
    html = _built(site, "reference/hooks.md")
    text = " ".join(_text(html).split())
    for name in names:
        assert f'id="nocodo_agents.hookspecs.{name}"' in html, f"the hook reference has no entry for {name}"
        first_line = (getattr(hookspecs, name).__doc__ or "").strip().splitlines()[0]
        assert first_line and " ".join(first_line.split()) in text, f"the hook reference lacks {name}'s docstring"
    assert ":class:" not in text and ":func:" not in text, "a Sphinx role was left unconverted"


def _command_sections(html: str) -> dict[str, str]:
    """The CLI page's HTML, cut at its ``<h2>`` headings, by heading id."""
    parts = re.split(r'<h2 id="([^"]+)"', html)
    return dict(zip(parts[1::2], parts[2::2]))


def test_the_cli_reference_lists_every_command_and_option(site: Path) -> None:
    from nocodo_agents.cli.parser import COMMANDS, build_parser

    parser = build_parser(load_all=True)
    subcommands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    sections = _command_sections(_built(site, "reference/cli.md"))
    for option in (name for action in parser._actions for name in action.option_strings if name not in ("-h", "--help")):
        assert f"<code>{option}</code>" in sections["options-every-command-takes"], option
    for entry in COMMANDS:
        assert entry.name in sections, f"the CLI reference has no section for {entry.name}"
        section = sections[entry.name]
        sub = subcommands.choices[entry.name]
        for action in sub._actions:
            for name in action.option_strings or [action.metavar or action.dest]:
                if name in ("-h", "--help"):
                    continue
                if name in ("--db", "-v", "--verbose", "-q", "--quiet"):  # listed once, for every command
                    continue
                assert f"<code>{unescape(name)}</code>" in unescape(section), f"{entry.name}: {name} is missing"
        assert f"usage: nocodo-agents {entry.name}" in unescape(section)


def _python_blocks(markdown: str) -> list[str]:
    return [textwrap.dedent(block) for block in re.findall(r"^```python[^\n]*\n(.*?)^```", markdown, re.DOTALL | re.MULTILINE)]


def _section(page: str, heading: str) -> str:
    """The Markdown of ``docs/<page>`` from ``heading`` to the next heading of the same level."""
    markdown = (DOCS / page).read_text(encoding="utf-8")
    level = heading.split(" ", 1)[0]
    assert f"\n{heading}\n" in markdown, f"{page} lost its section {heading!r}"
    body = markdown.split(f"\n{heading}\n", 1)[1]
    return re.split(rf"^{level} ", body, maxsplit=1, flags=re.MULTILINE)[0]


def test_the_testing_page_example_passes_against_the_writing_page_agent(tmp_path: Path) -> None:
    """The agent of "Writing an agent" (its plugin.py and migration, as written) passes the test file of "Testing an agent"."""
    plugin, migration = _python_blocks(_section("authors/writing-an-agent.md", "## A new agent, step by step"))[:2]
    assert "load_migrations(\"my_agent.migrations\")" in plugin and "dialect_sql(" in migration
    (example,) = [block for block in _python_blocks((DOCS / "authors" / "testing-an-agent.md").read_text(encoding="utf-8")) if "def test_" in block]
    package = tmp_path / "my_agent"
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(plugin)
    (package / "migrations" / "__init__.py").write_text("")
    (package / "migrations" / "V20261201120000__create_my_agent_notes.py").write_text(migration)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_my_agent.py").write_text(example)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_my_agent.py"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout, result.stdout


@pytest.mark.installed_agents
def test_the_getting_started_examples_run(tmp_path: Path) -> None:
    """The Python of "Getting started", run as written (with the installed requirements_qna) in a fresh directory."""
    blocks = _python_blocks((DOCS / "getting-started.md").read_text(encoding="utf-8"))
    assert len(blocks) == 2 and "run_agent_migrations" in blocks[0] and "Database(" in blocks[1]
    script = "\n".join(blocks) + "\nassert report.versions == (1, 2, 3, 4), report\n"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["(1, 2, 3, 4)"], result.stdout
    assert (tmp_path / "agents.sqlite").is_file() and (tmp_path / "data" / "agents.sqlite").is_file()


@pytest.mark.parametrize("module", ["nocodo_agents", "nocodo_agents.plugins", "nocodo_agents.lifecycle", "nocodo_agents.status", "nocodo_agents.testing"])
def test_the_api_reference_documents_every_public_name(site: Path, module: str) -> None:
    """Every name of the module's ``__all__`` has an entry on the API or the errors page."""
    import importlib

    html = _built(site, "reference/api.md") + _built(site, "reference/errors.md")
    names = [name for name in importlib.import_module(module).__all__ if name != "__version__"]
    missing = [
        name for name in names
        # (a name defined in a submodule of the same name, as nocodo_agents.testing.fresh_database, is documented there)
        if not any(f'id="{prefix}.{name}"' in html for prefix in (module, "nocodo_agents", "nocodo_agents.errors", "nocodo_agents.plugins", f"{module}.{name}"))
    ]
    assert not missing, f"{module}: the API reference has no entry for {missing}"


def _readme_links() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return [target for target in re.findall(r"\]\(([^)\s]+)\)", readme) if "://" not in target]


def test_the_readme_links_to_every_page_of_the_site() -> None:
    """The README is the entry point: each page of the nav is one link away, as a path GitHub renders."""
    _need_mkdocs()
    linked = {target.split("#", 1)[0] for target in _readme_links()}
    missing = [page for page in _nav() if page != "index.md" and f"docs/{page}" not in linked]  # index.md: the README's own intro
    assert not missing, f"README.md does not link to these pages of the site: {missing}"


def test_every_relative_link_of_the_readme_names_a_file_of_the_repository() -> None:
    links = _readme_links()
    assert links, "README.md has no relative links"
    broken = [target for target in links if not (ROOT / target.split("#", 1)[0]).exists()]
    assert not broken, f"README.md links to paths that do not exist: {broken}"


def test_the_checksum_example_gives_the_values_it_shows() -> None:
    """Each ``checksum(...)`` call on "History table and versions" returns the number its comment shows."""
    from nocodo_agents.database.migrations import checksum

    (block,) = _python_blocks((DOCS / "history.md").read_text(encoding="utf-8"))
    lines = block.splitlines()
    calls = [(line, lines[index + 1]) for index, line in enumerate(lines) if line.startswith("checksum(")]
    assert len(calls) == 2, block
    for call, comment in calls:
        shown = re.match(r"# (\d+): ", comment)
        assert shown, f"no value shown after {call}"
        assert str(eval(call, {"checksum": checksum})) == shown[1], call  # the page's own example, as written


@pytest.mark.installed_agents
def test_the_database_example_runs(tmp_path: Path) -> None:
    """The ``Database`` example of the API reference, run as written (with the installed requirements_qna)."""
    blocks = [block for block in _python_blocks((DOCS / "reference" / "api.md").read_text(encoding="utf-8")) if "with Database(" in block]
    assert len(blocks) == 1, blocks
    check = textwrap.dedent("""
        import sqlite3
        rows = sqlite3.connect("data/agents.sqlite").execute(
            "SELECT s.status, COUNT(DISTINCT m.id), t.status FROM agent_sessions s"
            " JOIN agent_messages m ON m.session_id = s.id JOIN agent_tool_calls t ON t.session_id = s.id GROUP BY s.id"
        ).fetchall()
        print(rows)
    """)
    result = subprocess.run([sys.executable, "-c", blocks[0] + check], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('completed', 1, 'completed')]", result.stdout  # the session, its message, its tool call


def test_the_commands_page_lists_every_exit_code() -> None:
    """Scripts depend on the exit codes: each of ``ExitCode``, and 141 for a closed stdout, has its row on "Commands"."""
    from nocodo_agents.cli.exit_codes import ExitCode
    from nocodo_agents.cli.output import CLOSED_OUTPUT_EXIT

    section = _section("commands.md", "## Exit codes")
    rows = {int(code) for code in re.findall(r"^\| (\d+) \|", section, re.MULTILINE)}
    assert rows == {int(code) for code in ExitCode} | {CLOSED_OUTPUT_EXIT}, sorted(rows)


@pytest.mark.installed_agents
def test_the_readme_quickstart_runs(tmp_path: Path) -> None:
    """The Python of the README's introduction (also the site's home page), run as written in a fresh directory."""
    (block,) = _python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    check = "\nimport sqlite3\nprint(sqlite3.connect('agents.sqlite').execute('SELECT version FROM refinery_schema_history ORDER BY version').fetchall())\n"
    result = subprocess.run([sys.executable, "-c", block + check], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[(1,), (2,), (3,), (4,)]", result.stdout
    assert (tmp_path / "data" / "agents.sqlite").is_file()
