"""Packaging: the distribution's name, one source of the version, the build revision, and
`relay version` saying what runs (the labels of relay_build_info)."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import relay
from relay.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_distribution_name_is_not_the_unrelated_relay_and_the_command_is_relay() -> None:
    project = PYPROJECT["project"]
    assert project["name"] == "relay-deploy"  # `relay` on the package index is another project
    assert project["scripts"] == {"relay": "relay.cli:main"}


def test_the_version_has_one_source() -> None:
    assert "version" not in PYPROJECT["project"]
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "relay.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|rc\d+)?", relay.__version__)
    # The installed metadata is built from it (an editable install re-reads it on reinstall).
    assert importlib.metadata.version("relay-deploy") == relay.__version__


def test_revision_is_a_commit_or_unknown(tmp_path: Path) -> None:
    value = relay.revision()
    assert value == "unknown" or re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", value)
    if (ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=False, timeout=10).stdout.strip()
        if head:
            assert value == head


def test_build_info_labels_tell_the_build() -> None:
    [family] = [f for f in Metrics(process=False).registry.collect()
                if f.name == "relay_build_info"]
    [sample] = family.samples
    assert sample.value == 1
    assert sample.labels == {"version": relay.__version__, "revision": relay.revision(),
                             "python": platform.python_version(), "schema": "unknown"}


def test_process_metrics_are_exposed_on_linux() -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("process metrics read /proc (Linux only)")
    names = {f.name for f in Metrics().registry.collect()}
    assert {"process_resident_memory_bytes", "process_open_fds", "process_max_fds",
            "python_info"} <= names
    assert not {n for n in names if n.startswith("process_")} & {
        f.name for f in Metrics(process=False).registry.collect()}


def test_relay_version_prints_version_revision_and_python() -> None:
    result = subprocess.run([sys.executable, "-m", "relay", "version", "--json"],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"version": relay.__version__,
                                         "revision": relay.revision(),
                                         "python": platform.python_version()}
    text = subprocess.run([sys.executable, "-m", "relay", "version"], capture_output=True,
                          text=True, check=True, timeout=60).stdout
    assert text.startswith(f"relay {relay.__version__} (revision ")
