"""relay.gatekeeper's pure helper: a git host's checks summary -> the checks gate's result."""

from __future__ import annotations

import pytest

from relay.gatekeeper import checks_result
from relay.gates.checks import State
from relay.githost import Checks, ChecksState


@pytest.mark.parametrize(("checks", "contexts", "state"), [
    (Checks(ChecksState.GREEN, total=2), (), State.GREEN),
    (Checks(ChecksState.GREEN, total=0), (), State.PENDING),  # nothing reported: wait
    (Checks(ChecksState.PENDING, pending=("build",), total=1), (), State.PENDING),
    (Checks(ChecksState.RED, failing=("lint",), total=2), (), State.RED),
    (Checks(ChecksState.GREEN, total=1), ("build",), State.GREEN),
])
def test_checks_result(checks: Checks, contexts: tuple[str, ...], state: State) -> None:
    assert checks_result(checks, contexts).state is state


def test_a_red_result_names_the_failing_checks() -> None:
    result = checks_result(Checks(ChecksState.RED, failing=("lint", "test"), total=3))
    assert "lint" in result.describe() and "test" in result.describe()
