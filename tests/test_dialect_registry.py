"""The dialect registry: every dialect's knowledge in one place, resolvable, and costing no import until needed."""

import json
import sqlite3
import subprocess
import sys

import pytest

from nocodo_agents.cli.exit_codes import ExitCode, exit_code_for
from nocodo_agents.dialects import dialect_for
from nocodo_agents.dialects.base import Dialect
from nocodo_agents.dialects.registry import DIALECTS, _resolve, is_unavailable_error, spec_for_scheme, suggested_schemes
from nocodo_agents.errors import ConnectionStateError, DatabaseUrlError
from nocodo_agents.urls import parse_database_url


@pytest.mark.parametrize("spec", DIALECTS, ids=lambda spec: spec.name)
def test_every_reference_of_a_dialect_resolves(spec) -> None:
    dialect_class = _resolve(spec.dialect_class)
    assert issubclass(dialect_class, Dialect) and dialect_class.name == spec.name
    assert callable(_resolve(spec.url_parser)) and callable(_resolve(spec.url_opener))
    for scheme in spec.schemes:
        assert spec_for_scheme(scheme) is spec


@pytest.mark.parametrize(
    "url, dialect",
    [
        ("agents.db", "sqlite"),
        ("file:agents.db?mode=ro", "sqlite"),
        ("sqlite:///agents.db", "sqlite"),
        ("postgresql://u@h/db", "postgresql"),
        ("postgres+psycopg://u@h/db", "postgresql"),
        ("mysql://u@h/db", "mysql"),
        ("mariadb://u@h/db", "mysql"),
    ],
)
def test_each_scheme_parses_to_its_dialect(url: str, dialect: str) -> None:
    assert parse_database_url(url).dialect == dialect


def test_an_unknown_scheme_lists_every_dialect() -> None:
    assert suggested_schemes() == "sqlite://, postgresql:// or mysql://"
    with pytest.raises(DatabaseUrlError, match="unknown scheme 'oracle': use sqlite://, postgresql:// or mysql://"):
        parse_database_url("oracle://u@h/db")


def test_detection_uses_the_registry_and_names_every_driver() -> None:
    connection = sqlite3.connect(":memory:")
    try:
        assert dialect_for(connection).name == "sqlite"
    finally:
        connection.close()
    with pytest.raises(ConnectionStateError, match=r"pass an open sqlite3, psycopg \(3\) or PyMySQL connection"):
        dialect_for(object())


def test_a_driver_error_is_database_unavailable_and_others_are_not() -> None:
    assert is_unavailable_error(sqlite3.OperationalError("disk I/O error"))
    assert exit_code_for(sqlite3.OperationalError("disk I/O error")) == ExitCode.DATABASE_UNAVAILABLE
    assert not is_unavailable_error(ValueError("x"))
    assert exit_code_for(ValueError("x")) == ExitCode.ERROR


def test_the_registry_urls_and_exit_codes_import_no_driver() -> None:
    code = (
        "import sys; before = set(sys.modules); "
        "import nocodo_agents.dialects.registry, nocodo_agents.urls, nocodo_agents.cli.exit_codes; "
        "from nocodo_agents.urls import parse_database_url; parse_database_url('postgresql://u@h/db'); "
        "import json; print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    output = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(output))
    assert not {"sqlite3", "psycopg", "pymysql"} & loaded
    assert not {f"nocodo_agents.dialects.{spec.name}" for spec in DIALECTS} & loaded
