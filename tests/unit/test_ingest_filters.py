"""relay.ingest with route filters (docs/gates.md): skip markers and paths at routing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from relay.events import Delivery, Source, parse_delivery
from relay.gates.filters import RouteFilters
from relay.ingest import ingest
from relay.settings import Route
from tests.factories import routes
from tests.payloads import SECRET, github_headers, github_push, sha

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def github(body: bytes) -> tuple[Delivery, bytes]:
    return parse_delivery(Source.GITHUB, github_headers(body, delivery="d-1"), body,
                          [SECRET]), body


def filtered(**filters: Any) -> tuple[Route, ...]:
    first = routes()[0]
    return (dataclasses.replace(first, filters=RouteFilters(**filters)),)


def commit(index: int, *files: str, message: str = "change") -> dict[str, Any]:
    return {"id": sha(f"c{index}"), "message": message, "timestamp": "2026-11-29T10:00:00Z",
            "added": list(files), "modified": [], "removed": []}


def push(*commits: dict[str, Any], message: str = "change") -> bytes:
    return github_push("acme/shop", "refs/heads/main", after=commits[-1]["id"] if commits
                       else sha("x"), message=message,
                       extra={"commits": list(commits)})


def test_a_skip_ci_head_commit_makes_no_deployment() -> None:
    delivery, body = github(push(commit(1, "src/a.py"), message="Fix it [skip ci]"))
    plan = ingest(delivery, body, filtered(), NOW)
    assert plan.deployments == ()
    assert plan.ignored == "routes[0] skip_markers: the head commit message contains [skip ci]"
    assert plan.record.ignored == plan.ignored


def test_a_route_without_markers_deploys_a_skip_ci_push() -> None:
    delivery, body = github(push(commit(1, "src/a.py"), message="Fix it [skip ci]"))
    assert len(ingest(delivery, body, filtered(skip_markers=()), NOW).deployments) == 1


def test_a_docs_only_push_with_paths_ignore_docs_makes_none() -> None:
    delivery, body = github(push(commit(1, "docs/a.md"), commit(2, "docs/b/c.md")))
    plan = ingest(delivery, body, filtered(paths_ignore=("docs/**",)), NOW)
    assert plan.deployments == ()
    assert plan.ignored == "routes[0] paths: all of the 2 changed files match paths_ignore"


def test_a_push_touching_code_deploys_under_paths_ignore() -> None:
    delivery, body = github(push(commit(1, "docs/a.md", "src/app.py")))
    plan = ingest(delivery, body, filtered(paths_ignore=("docs/**",)), NOW)
    assert [d.version for d in plan.deployments] == [sha("c1")]
    assert plan.deployments[0].needs_compare is False


def test_truncated_file_lists_need_the_compare_api_when_the_source_has_one() -> None:
    many = [commit(i, "docs/x.md") for i in range(25)]
    delivery, body = github(push(*many))
    plan = ingest(delivery, body, filtered(paths_ignore=("docs/**",)), NOW,
                  can_compare={Source.GITHUB})
    assert [d.needs_compare for d in plan.deployments] == [True]


def test_truncated_file_lists_deploy_without_an_api() -> None:
    many = [commit(i, "docs/x.md") for i in range(25)]
    delivery, body = github(push(*many))
    plan = ingest(delivery, body, filtered(paths_ignore=("docs/**",)), NOW)
    assert [d.needs_compare for d in plan.deployments] == [False]


def test_a_caught_up_head_is_gated_like_a_push() -> None:
    from datetime import UTC, datetime

    from relay.config import Action, Route
    from relay.deployment import DeploymentKind, DeploymentStatus
    from relay.events import Source
    from relay.gates.checks import WaitForChecks
    from relay.gates.filters import RouteFilters
    from relay.ingest import catch_up

    route = Route(index=0, repo="acme/web", branch="main", tag=None, cluster=1,
                  action=Action.VERSION, source=Source.GITHUB, wait_for_checks=WaitForChecks(),
                  filters=RouteFilters(paths=("web/**",)))
    got = catch_up(Source.GITHUB, "acme/web", "main", before="a" * 40, sha="b" * 40,
                   routes=[route], now=datetime.now(UTC), can_compare={Source.GITHUB},
                   can_check={Source.GITHUB})
    [dep] = got.deployments
    assert dep.status is DeploymentStatus.WAITING_CHECKS and dep.needs_compare
    assert dep.kind is DeploymentKind.CATCH_UP and dep.before == "a" * 40
