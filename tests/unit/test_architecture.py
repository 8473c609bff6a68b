"""Arrows point one way: the pure core imports no adapter, no event loop, no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RELAY = Path(__file__).resolve().parents[2] / "relay"
CORE = ["events.py", "signatures.py", "routing.py", "globs.py", "rollout.py", "scheduling.py",
        "deployment.py", "secret.py"]
FORBIDDEN = ("aiohttp", "asyncio", "asyncpg", "sqlite3", "socket", "time", "structlog",
             "prometheus_client", "relay.store", "relay.cluster", "relay.web", "relay.app",
             "relay.worker", "relay.follow", "relay.cli", "relay.simulator", "relay.admin_api")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_adapter(module: str) -> None:
    bad = {name for name in imports(RELAY / module)
           if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"relay/{module} is pure but imports {sorted(bad)}"


def test_nothing_but_the_settings_loader_reads_the_environment() -> None:
    readers = sorted(
        str(path.relative_to(RELAY)) for path in RELAY.rglob("*.py")
        if "os.environ" in path.read_text(encoding="utf-8")
        or "getenv(" in path.read_text(encoding="utf-8")
    )
    # The CLI reads the variables it documents (tokens, URLs); the service reads only config.
    assert all(r == "config.py" or r.startswith("cli/") for r in readers), readers
