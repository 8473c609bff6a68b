"""`relay version` and `relay completion`."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relay", *args], capture_output=True,
                          text=True, timeout=60, check=False)


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
