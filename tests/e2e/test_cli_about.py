"""`relay version` and `relay completion`."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

import relay

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relay", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_version_prints_version_revision_and_python() -> None:
    result = run("version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"relay {relay.__version__}"
    assert lines[1].startswith("revision: ") and len(lines[1].split()[1]) in (7, 40, 64) or \
        lines[1] == "revision: unknown"
    assert lines[2].startswith(f"python: {platform.python_version()}")
    data = json.loads(run("version", "--json").stdout)
    assert set(data) == {"version", "revision", "python"}


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_prints_a_script_that_knows_the_commands(shell: str) -> None:
    result = run("completion", shell)
    assert result.returncode == 0, result.stderr
    for word in ("deployments", "rollback", "deliveries", "--before-id"):
        assert word in result.stdout


def test_the_bash_script_loads() -> None:
    script = run("completion", "bash").stdout
    checked = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True,
                             timeout=30, check=False)
    assert checked.returncode == 0, checked.stderr
