"""`relay deployments cancel ID` against a running relay."""

from __future__ import annotations

import pytest

from relay.deployment import DeploymentStatus
from tests.e2e.test_cli_admin import relay_cli
from tests.harness import Factory
from tests.payloads import sha

pytestmark = pytest.mark.slow


async def test_cancel_command_ends_a_rolling_deployment(harness: Factory) -> None:
    h = await harness(step_s=3600)
    [dep_id] = await h.push(after=sha("cli-cancel"))
    await h.wait_status(dep_id, DeploymentStatus.ROLLING_OUT)
    result = await relay_cli(h, "deployments", "cancel", str(dep_id))
    assert result.code == 0, result.err
    assert result.out.strip() == f"deployment {dep_id} canceled (cluster 10702)"
    assert (await h.final(dep_id)).status is DeploymentStatus.CANCELED
    again = await relay_cli(h, "deployments", "cancel", str(dep_id))
    assert again.code == 1
    assert "HTTP 409" in again.err and "already canceled" in again.err
