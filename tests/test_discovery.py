"""Finding agents, loading only those requested, and failing clearly when a plugin is broken."""

import types

import pytest
from conftest import _module_with, plugin_for, registry_of

from nocodo_agents import DuplicateAgentError, PluginLoadError, UnknownAgentError
from nocodo_agents.discovery import AgentEntry, AgentRegistry, normalize_agent_name
from nocodo_agents.plugins import hookimpl


def entry(name: str, distribution: str, load) -> AgentEntry:
    return AgentEntry(name, distribution, "1.0", f"{distribution}.plugin", load)


def test_core_is_always_present_and_first() -> None:
    registry = AgentRegistry([])
    assert registry.agent_names() == ["core"]
    (core,) = registry.requested_sets([])
    assert (core.agent, core.distribution) == ("core", "nocodo-agents")
    assert [m.version for m in core.migrations] == [1, 2, 3]


@pytest.mark.parametrize("spelling", ["Requirements-QnA", "requirements_qna", "requirements--qna", "requirements.qna"])
def test_names_fold_dashes_and_underscores(spelling: str) -> None:
    assert normalize_agent_name(spelling) == "requirements_qna"


def test_unknown_agent_lists_installed_agents_and_the_install_command(agent_package) -> None:
    registry = registry_of(alpha=agent_package({"V10__a": "SELECT 1;"}))
    with pytest.raises(UnknownAgentError) as raised:
        registry.requested_sets(["my-agent"])
    message = str(raised.value)
    assert "'my-agent' is not installed" in message
    assert "installed agents: alpha, core" in message
    assert "pip install nocodo-agents-my-agent" in message
    assert raised.value.installed == ("alpha", "core")


def test_only_requested_agents_are_imported(agent_package) -> None:
    imported = []

    def loader(name):
        def load():
            imported.append(name)
            return plugin_for(agent_package({f"V{10 + len(imported)}__m": "SELECT 1;"}))

        return load

    registry = AgentRegistry([entry("wanted", "dist-wanted", loader("wanted")), entry("other", "dist-other", loader("other"))])
    sets = registry.requested_sets(["wanted"])
    assert [s.agent for s in sets] == ["core", "wanted"]
    assert imported == ["wanted"]
    registry.requested_sets(["wanted"])
    assert imported == ["wanted"], "an agent is loaded once per registry"


def test_broken_plugin_fails_only_when_requested(agent_package) -> None:
    def broken():
        raise ImportError("No module named 'missing_dependency'")

    good = plugin_for(agent_package({"V10__good": "SELECT 1;"}))
    registry = AgentRegistry([entry("broken", "nocodo-agents-broken", broken), entry("good", "dist-good", lambda: good)])
    assert [s.agent for s in registry.requested_sets(["good"])] == ["core", "good"]
    with pytest.raises(PluginLoadError) as raised:
        registry.requested_sets(["broken"])
    assert raised.value.agent == "broken"
    assert raised.value.distribution == "nocodo-agents-broken"
    assert "missing_dependency" in str(raised.value)
    assert "nocodo-agents-broken" in str(raised.value)
    with pytest.raises(PluginLoadError):
        registry.requested_sets(None)


def _plugin(result=None, raises=None):
    @hookimpl
    def nocodo_agents_migrations():
        if raises:
            raise raises
        return result

    return _module_with(nocodo_agents_migrations)


@pytest.mark.parametrize(
    "plugin, message",
    [
        (_plugin(raises=RuntimeError("database url missing")), "hook raised RuntimeError: database url missing"),
        (_plugin(result="V1__x"), "returned str, expected a list of Migration"),
        (_plugin(result=None), "returned None"),
        (_plugin(result=[object()]), "expected only Migration objects"),
        (types.ModuleType('empty_plugin'), "implements no @hookimpl nocodo_agents_migrations"),
    ],
)
def test_malformed_plugins_raise_plugin_load_error(plugin, message: str) -> None:
    registry = AgentRegistry([entry("bad", "nocodo-agents-bad", lambda: plugin)])
    with pytest.raises(PluginLoadError, match=message) as raised:
        registry.requested_sets(["bad"])
    assert "'bad'" in str(raised.value) and "nocodo-agents-bad" in str(raised.value)
    with pytest.raises(PluginLoadError):  # and again, not an "already registered" error
        registry.requested_sets(["bad"])


def test_hookimpl_with_wrong_signature_is_a_plugin_load_error() -> None:
    @hookimpl
    def nocodo_agents_migrations(unexpected_argument):
        return []

    plugin = _module_with(nocodo_agents_migrations)
    registry = AgentRegistry([entry("odd", "dist-odd", lambda: plugin)])
    with pytest.raises(PluginLoadError, match="not a valid plugin"):
        registry.requested_sets(["odd"])


def test_two_distributions_with_one_agent_name_fail_naming_both(agent_package) -> None:
    plugin = plugin_for(agent_package({"V10__x": "SELECT 1;"}))
    registry = AgentRegistry([entry("twin", "dist-one", lambda: plugin), entry("Twin", "dist-two", lambda: plugin)])
    with pytest.raises(DuplicateAgentError) as raised:
        registry.requested_sets(["twin"])
    assert "dist-one" in str(raised.value) and "dist-two" in str(raised.value)
    assert registry.requested_sets([])[0].agent == "core", "runs not requesting it still work"


def test_an_installed_agent_named_core_is_refused(agent_package) -> None:
    plugin = plugin_for(agent_package({"V10__x": "SELECT 1;"}))
    registry = AgentRegistry([entry("core", "evil-dist", lambda: plugin)])
    with pytest.raises(DuplicateAgentError) as raised:
        registry.requested_sets([])
    assert "nocodo-agents" in str(raised.value) and "evil-dist" in str(raised.value)
    assert "reserved" in str(raised.value)


def test_agents_must_be_a_list_not_a_string() -> None:
    with pytest.raises(TypeError, match="list of agent names"):
        AgentRegistry([]).requested_sets("requirements_qna")


def test_discovery_does_not_import_agent_code() -> None:
    registry = AgentRegistry([entry("lazy", "dist-lazy", lambda: pytest.fail("imported too early"))])
    assert registry.agent_names() == ["core", "lazy"]


@pytest.mark.installed_agents
def test_installed_registry_is_scanned_once_until_sys_path_changes(monkeypatch, tmp_path) -> None:
    from nocodo_agents import discovery

    scans = []
    monkeypatch.setattr(discovery, "installed_agent_entries", lambda: scans.append(1) or [])
    first = AgentRegistry.installed()
    assert AgentRegistry.installed() is first and len(scans) == 1
    (tmp_path / "site").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert AgentRegistry.installed() is not first and len(scans) == 2
    (tmp_path / "site" / "new_agent-1.0.dist-info").mkdir()  # what an install does to a directory
    import os

    os.utime(tmp_path / "site", ns=(1, 1))
    AgentRegistry.installed()
    assert len(scans) == 3
