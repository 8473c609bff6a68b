"""Hardening of the deploy path (issue 16, points 15-18), each against the simulator."""

from __future__ import annotations

from relay.deployment import DeploymentStatus
from tests.harness import Factory
from tests.payloads import sha


async def test_one_malformed_answer_before_the_trigger_is_retried(harness: Factory) -> None:
    h = await harness()
    h.fault("truncated:apps.get:count=1")  # a 200 whose JSON is cut in half
    [dep_id] = await h.push(after=sha("malformed-get"))
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.SUCCEEDED, final.error


async def test_a_web_hook_url_that_is_not_http_is_refused_with_a_reason(
        harness: Factory) -> None:
    h = await harness(public_url="ftp://127.0.0.1:9")
    [dep_id] = await h.push("acme/shop", "refs/tags/v3")
    final = await h.final(dep_id)
    assert final.status is DeploymentStatus.ERROR
    assert final.error == "web_hook_url must be an http(s) URL, not 'ftp'"
    assert h.state.hook_posts == []
