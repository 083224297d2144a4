"""The scripts a newcomer runs: tests/servers.sh leaves the machine as it found it, and
tests/bootstrap.sh runs pip only when what it installs has changed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVERS_SH = ROOT / "tests" / "servers.sh"


def _fake_apt_get(tmp_path: Path, fail: bool = False) -> Path:
    """An apt-get that records what policy-rc.d said while it ran (no package is installed)."""
    script = tmp_path / "apt-get"
    script.write_text(
        "#!/bin/sh\n"
        'echo "$* :: $(cat "$POLICY_RC_D" | tail -n 1)" >> "$APT_LOG"\n'
        + ("exit 3\n" if fail else "exit 0\n")
    )
    script.chmod(0o755)
    return script


def _run_servers_sh(tmp_path: Path, policy: Path, fail: bool = False) -> subprocess.CompletedProcess:
    env: dict[str, str] = dict(os.environ, POLICY_RC_D=str(policy), APT_GET=str(_fake_apt_get(tmp_path, fail)),
                               APT_LOG=str(tmp_path / "apt.log"), NOCODO_SERVERS_NEED="postgresql pgbouncer")
    return subprocess.run(["bash", str(SERVERS_SH)], env=env, capture_output=True, text=True)


def _root() -> bool:
    return os.geteuid() == 0


def test_servers_sh_puts_back_an_existing_policy_rc_d(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# the machine's own policy\nexit 0\n")
    policy.chmod(0o700)
    done = _run_servers_sh(tmp_path, policy)
    if not _root():
        assert done.returncode == 1 and "sudo bash tests/servers.sh" in done.stderr
        return
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "apt.log").read_text().splitlines()
    assert log == ["update -qq :: exit 101", "install -y -qq --no-install-recommends postgresql pgbouncer :: exit 101"]
    assert policy.read_text() == "#!/bin/sh\n# the machine's own policy\nexit 0\n"
    assert policy.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apt-get", "apt.log", "policy-rc.d"]


@pytest.mark.parametrize("fail", [False, True], ids=["installed", "install-failed"])
def test_servers_sh_removes_the_policy_rc_d_it_wrote(tmp_path: Path, fail: bool) -> None:
    policy = tmp_path / "policy-rc.d"
    done = _run_servers_sh(tmp_path, policy, fail=fail)
    if not _root():
        assert done.returncode == 1 and "sudo bash tests/servers.sh" in done.stderr
        return
    assert done.returncode == (3 if fail else 0), done.stderr
    assert (tmp_path / "apt.log").read_text().startswith("update -qq :: exit 101")
    assert not policy.exists()


def test_servers_sh_does_nothing_when_nothing_is_missing(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    env = dict(os.environ, POLICY_RC_D=str(policy), APT_GET="false", NOCODO_SERVERS_NEED="")
    done = subprocess.run(["bash", str(SERVERS_SH)], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "" and not policy.exists()


def _copy_project(to: Path) -> None:
    """The files tests/bootstrap.sh reads and installs, as a fresh clone has them."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".venv", "build", "dist")
    for name in ("core", "plugins"):
        shutil.copytree(ROOT / name, to / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "tests/bootstrap.sh"):
        (to / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, to / name)


def _installed_dist_info(project: Path) -> dict[str, int]:
    """Each installed distribution's metadata directory and its inode: pip recreates it on every install."""
    site = next(project.glob(".venv/lib/python*/site-packages"))
    return {p.name: p.stat().st_ino for p in site.glob("nocodo_agents*.dist-info")}


@pytest.mark.installed_agents
def test_bootstrap_runs_pip_only_when_what_it_installs_changed(tmp_path: Path) -> None:
    project = tmp_path / "clone"
    _copy_project(project)
    env = dict(os.environ, PYTHON=sys.executable)
    bootstrap = ["bash", str(project / "tests" / "bootstrap.sh")]
    subprocess.run(bootstrap, env=env, check=True, capture_output=True)
    first = _installed_dist_info(project)
    assert len(first) == 2, first

    again = subprocess.run(bootstrap, env=env, check=True, capture_output=True, text=True)
    assert again.stdout == "" and _installed_dist_info(project) == first  # pip did not run

    pyproject = project / "plugins" / "requirements_qna" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# changed\n")
    subprocess.run(bootstrap, env=env, check=True, capture_output=True)
    changed = _installed_dist_info(project)
    assert changed.keys() == first.keys() and changed != first  # reinstalled

    shutil.rmtree(next(project.glob(".venv/lib/python*/site-packages/nocodo_agents_requirements_qna*.dist-info")))
    (next(project.glob(".venv/lib/python*/site-packages")) / "_nocodo_agents_requirements_qna.pth").unlink(missing_ok=True)
    subprocess.run(bootstrap, env=env, check=True, capture_output=True)
    assert len(_installed_dist_info(project)) == 2  # a broken environment is repaired
