"""Arrows point one way: the pure core imports no adapter, no event loop, no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RELAY = Path(__file__).resolve().parents[2] / "relay"
CORE = ["events.py", "signatures.py", "routing.py", "globs.py", "rollout.py", "scheduling.py",
        "notify/__init__.py", "notify/message.py", "notify/filters.py", "notify/slack.py",
        "notify/teams.py", "notify/webhook.py",
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


# -- No function-level import hides a cycle ------------------------------------------------------
# A relay module imported inside a function is how a cycle hides from a reader (and from a
# top-of-file review). Each one allowed here has a reason; `lint-imports` (make lint) checks
# the layers including these imports. An entry no longer used fails the test below it, so the
# list shrinks when the code does.
LAZY_IMPORTS_ALLOWED: dict[tuple[str, str], str] = {
    ("cli/", "relay"): "a command imports what it runs only when it runs, so `relay --help` "
                       "and the client commands start without loading the server",
    ("app.py", "relay.simulator"): "create_app loads the cluster API simulator only when "
                                   "cluster_api.base_url is `embedded`",
    ("store/__init__.py", "relay.store."): "open_store imports only the backend its URL names "
                                           "(asyncpg is loaded only for PostgreSQL)",
}


def lazy_relay_imports(source: str) -> list[tuple[str, int]]:
    """(imported module, line) of every import of a relay module inside a function."""
    found: list[tuple[str, int]] = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom):  # relative: always inside relay
                base = f"relay.{node.module}" if node.module else "relay"
                names = [base] if node.module else [f"relay.{a.name}" for a in node.names]
            found.extend((n, node.lineno) for n in names if n == "relay" or n.startswith("relay."))
    return sorted(set(found))  # a nested function is walked twice


def function_level_relay_imports() -> list[tuple[str, str, int]]:
    """(path relative to relay/, imported module, line) of every relay import in a function."""
    return sorted({(path.relative_to(RELAY).as_posix(), module, line)
                   for path in RELAY.rglob("*.py")
                   for module, line in lazy_relay_imports(path.read_text(encoding="utf-8"))})


def _allowed_by(rel: str, module: str) -> tuple[str, str] | None:
    for key in LAZY_IMPORTS_ALLOWED:
        where, prefix = key
        if (rel == where or (where.endswith("/") and rel.startswith(where))) and \
                (module == prefix or module.startswith(prefix)):
            return key
    return None


def test_no_function_level_import_of_a_relay_module_outside_the_allow_list() -> None:
    bad = [f"relay/{rel}:{line}: import {module}"
           for rel, module, line in function_level_relay_imports()
           if _allowed_by(rel, module) is None]
    assert not bad, ("function-level imports of relay modules (move them to the top of the "
                     "file, or break the cycle they hide):\n" + "\n".join(bad))


def test_every_allowed_lazy_import_is_still_used() -> None:
    used = {_allowed_by(rel, module) for rel, module, _ in function_level_relay_imports()}
    stale = sorted(set(LAZY_IMPORTS_ALLOWED) - used)
    assert not stale, f"remove these entries from LAZY_IMPORTS_ALLOWED: {stale}"


def test_the_lazy_import_check_can_fail() -> None:
    source = ("import relay.events\n"
              "def f():\n    from relay.web import x\n    import json\n"
              "    async def g():\n        from . import app\n")
    assert sorted(lazy_relay_imports(source)) == [("relay.app", 6), ("relay.web", 3)]
    assert _allowed_by("web.py", "relay.web") is None
    assert _allowed_by("cli/service.py", "relay.app") == ("cli/", "relay")
