"""The table of git hosts (relay/hosts/): one entry per source, one shape per host, pure."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from relay.events import Malformed, Source, UnsupportedMediaType, parse_delivery
from relay.hosts import HOSTS, SOURCE_PATTERN, Host
from relay.hosts.base import MAX_DELIVERY_KEY, storable
from tests.payloads import (
    SECRET,
    gitea_headers,
    gitea_push,
    github_headers,
    github_push,
    gitlab_headers,
    gitlab_push,
)

RELAY = Path(__file__).resolve().parents[2] / "relay"
FORBIDDEN = ("aiohttp", "asyncio", "asyncpg", "sqlite3", "socket", "time", "structlog",
             "prometheus_client", "relay.store", "relay.cluster", "relay.web", "relay.app",
             "relay.worker", "relay.follow", "relay.cli", "relay.simulator", "relay.admin_api",
             "relay.config", "os")


def test_every_source_has_a_host() -> None:
    assert set(HOSTS) == set(Source)
    for source, host in HOSTS.items():
        assert isinstance(host, Host) and host.source is source


def test_the_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        HOSTS[Source.GITHUB] = HOSTS[Source.GITLAB]  # type: ignore[index]


def test_config_keys() -> None:
    assert {s.value: h.config_key for s, h in HOSTS.items()} == {
        "github": "secret_env", "gitlab": "token_env", "gitea": "secret_env"}


def test_the_route_pattern_derives_from_the_table() -> None:
    pattern = re.compile(SOURCE_PATTERN)
    assert all(pattern.fullmatch(source.value) for source in HOSTS)
    assert not pattern.fullmatch("bitbucket") and not pattern.fullmatch("githubx")


@pytest.mark.parametrize("module", sorted(p.name for p in (RELAY / "hosts").glob("*.py")))
def test_host_modules_are_pure(module: str) -> None:
    names: set[str] = set()
    for node in ast.walk(ast.parse((RELAY / "hosts" / module).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    bad = {n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"relay/hosts/{module} is pure but imports {sorted(bad)}"


def test_ingest_is_pure_but_for_the_stores_value_types() -> None:
    names: set[str] = set()
    for node in ast.walk(ast.parse((RELAY / "ingest.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    allowed = {"relay.store.base", "relay.config"}
    bad = {n for n in names - allowed if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad


def test_no_ladder_over_sources_is_left() -> None:
    # Host knowledge lives in the host modules: nothing branches on which source it is.
    ladder = re.compile(r"source\s+(is|is not|==|!=)\s+(Source\.|\")")
    for path in [*RELAY.glob("*.py"), *(RELAY / "hosts").glob("*.py")]:
        assert not ladder.search(path.read_text(encoding="utf-8")), path.name


# -- what every host lets through is storable -------------------------------------------------


def _headers(source: Source, body: bytes, key: str) -> dict[str, str]:
    if source is Source.GITHUB:
        return github_headers(body, delivery=key)
    if source is Source.GITLAB:
        return gitlab_headers(idempotency_key=key)
    return gitea_headers(body, delivery=key)


BODIES = {Source.GITHUB: github_push(), Source.GITLAB: gitlab_push(), Source.GITEA: gitea_push()}
SECRETS = {Source.GITHUB: [SECRET], Source.GITLAB: [b"relay-test-gitlab-token"],
           Source.GITEA: [SECRET]}
KEY_HEADERS = {Source.GITHUB: "X-GitHub-Delivery", Source.GITLAB: "Idempotency-Key",
               Source.GITEA: "X-Gitea-Delivery"}


@pytest.mark.parametrize("source", list(Source))
def test_delivery_keys_are_bounded_and_the_message_names_the_header(source: Source) -> None:
    body = BODIES[source]
    ok = parse_delivery(source, _headers(source, body, "k" * MAX_DELIVERY_KEY), body,
                        SECRETS[source])
    assert len(ok.delivery_key) == MAX_DELIVERY_KEY
    with pytest.raises(Malformed, match=f"{KEY_HEADERS[source]} header longer than 400"):
        parse_delivery(source, _headers(source, body, "k" * 401), body, SECRETS[source])


def test_storable_names_the_field_and_the_problem() -> None:
    assert storable("field 'ref'", "refs/heads/ü😀") == "refs/heads/ü😀"
    with pytest.raises(Malformed, match="field 'ref' contains a NUL character"):
        storable("field 'ref'", "a\x00")
    with pytest.raises(Malformed, match="field 'ref' contains a lone surrogate"):
        storable("field 'ref'", "a\udcff")


def test_a_content_type_that_is_not_printable_ascii_is_415() -> None:
    body = github_push()
    headers = {**github_headers(body), "Content-Type": "application/json; charset=\udcff"}
    with pytest.raises(UnsupportedMediaType, match="not printable ASCII"):
        parse_delivery(Source.GITHUB, headers, body, [SECRET])


def test_a_gitlab_homepage_that_is_no_url_is_400_not_a_crash() -> None:
    body = gitlab_push(extra={"project": None, "repository": {"homepage": "http://[::1"}})
    with pytest.raises(Malformed, match="repository.homepage"):
        parse_delivery(Source.GITLAB, gitlab_headers(), body, [b"relay-test-gitlab-token"])


def test_folded_headers_are_folded_once() -> None:
    from relay.hosts.base import FoldedHeaders, fold_headers

    folded = fold_headers({"X-GitHub-Event": "push", "x-github-event": "ping"})
    assert isinstance(folded, FoldedHeaders) and folded == {"x-github-event": "push"}
    assert fold_headers(folded) is folded
