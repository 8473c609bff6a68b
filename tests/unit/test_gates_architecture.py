"""relay.gates is pure: no adapter, no event loop, no clock read, no environment (like the core)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

GATES = Path(__file__).resolve().parents[2] / "relay" / "gates"
MODULES = sorted(p.name for p in GATES.glob("*.py"))
FORBIDDEN = ("aiohttp", "asyncio", "asyncpg", "sqlite3", "socket", "time", "os", "random",
             "structlog", "prometheus_client", "relay.store", "relay.cluster", "relay.web",
             "relay.app", "relay.worker", "relay.follow", "relay.cli", "relay.simulator",
             "relay.admin_api", "relay.config", "relay.clock")
CLOCK_READS = re.compile(r"\.(now|utcnow|today)\(")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_every_gates_module_is_checked() -> None:
    assert {"holds.py", "windows.py", "release.py", "filters.py", "changes.py", "checks.py",
            "rollback.py", "statuses.py"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_gates_module_is_pure(module: str) -> None:
    path = GATES / module
    bad = {name for name in imports(path)
           if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"relay/gates/{module} is pure but imports {sorted(bad)}"
    assert not CLOCK_READS.search(path.read_text(encoding="utf-8")), \
        f"relay/gates/{module} reads the clock; take `now` as an argument"
