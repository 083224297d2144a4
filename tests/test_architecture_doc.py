"""ARCHITECTURE.md matches the code: what it names exists, and every top-level module is on its map."""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path

import nocodo_agents

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(nocodo_agents.__file__).resolve().parent
DOCUMENT = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
#: Every `code span` of the document.
SPANS: list[str] = re.findall(r"`([^`\n]+)`", DOCUMENT)
SOURCE = "\n".join(path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py"))


def _module_files() -> set[str]:
    """Paths relative to the package (``dialects/mysql/lock.py``) and each of their tails (``mysql/lock.py``, ``lock.py``)."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        names.update("/".join(parts[index:]) for index in range(len(parts)))
    return names


def _module_names() -> set[str]:
    """Every module and package name of the package (``apply``, ``engine``, ``lock_wait``)."""
    names = {path.stem for path in PACKAGE.rglob("*.py")}
    return names | {path.name for path in PACKAGE.rglob("*") if path.is_dir()}


def test_every_file_it_names_exists() -> None:
    files = _module_files()
    tests = {path.name for path in (ROOT / "tests").glob("*.py")}
    missing = []
    for span in SPANS:
        for name in re.findall(r"[\w/*]+\.py", span):
            if name.startswith("test_") or name.startswith("tests/"):
                if "*" in name:
                    found = any(Path(test).match(name) for test in tests)
                else:
                    found = name.rpartition("/")[2] in tests
            elif "*" in name:
                found = any(Path(file).match(name) for file in files)
            else:
                found = name in files
            if not found:
                missing.append(name)
    assert not missing, f"ARCHITECTURE.md names files that do not exist: {sorted(set(missing))}"


def test_every_directory_it_names_exists() -> None:
    directories = {path.relative_to(PACKAGE).as_posix() + "/" for path in PACKAGE.rglob("*") if path.is_dir()}
    directories |= {"/".join(d.split("/")[-2:]) for d in directories}  # "mysql/" for "dialects/mysql/"
    directories |= {path.name + "/" for path in ROOT.iterdir() if path.is_dir()}  # benchmarks/, tests/
    missing = [span for span in SPANS if re.fullmatch(r"[\w/]+/", span) and span not in directories]
    assert not missing, f"ARCHITECTURE.md names directories that do not exist in the package: {missing}"


def test_every_function_and_class_it_names_is_defined() -> None:
    """A name written as code (``open_run``, ``Run.read``, ``Dialect.session(lock_timeout)``) is defined in the package."""
    modules = _module_names()
    missing = []
    for span in SPANS:
        match = re.fullmatch(r"([A-Za-z_][\w.]*)(\(.*\))?", span)
        if match is None or match.group(1).endswith(".py"):
            continue
        for part in match.group(1).split("."):
            if part in modules or part.isupper() or not re.search(r"[a-z]", part):
                continue  # the package, SQL keywords and constants written as SQL (GET_LOCK)
            if not re.search(rf"(def|class) {re.escape(part)}\b|\b{re.escape(part)}\s*[:=]", SOURCE):
                missing.append(span)
    # words the document writes as code that are not Python names of ours
    foreign = {
        "sql_mode", "standard_conforming_strings", "session_replication_role", "foreign_key_check",  # server settings
        "pg_try_advisory_xact_lock", "Engine", "ast", "core",  # a PostgreSQL function, SQLAlchemy, the stdlib, an agent
    }
    missing = [span for span in missing if span not in foreign]
    assert not missing, f"ARCHITECTURE.md names what the package does not define: {sorted(set(missing))}"


def test_every_top_level_module_is_on_the_map() -> None:
    """A new module or package of ``nocodo_agents`` must be placed on the code map."""
    entries = {path.name for path in PACKAGE.glob("*.py") if not path.name.startswith("__")}
    entries |= {f"{path.name}/" for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    entries -= {"_version.py"}
    missing = sorted(entry for entry in entries if not any(fnmatch(entry, span) for span in SPANS))
    assert not missing, f"place these modules on ARCHITECTURE.md's code map: {missing}"
