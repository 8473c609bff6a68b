"""The CLI's follower rides out a relay restart with capped backoff (fake API, fake sleep)."""

from __future__ import annotations

from typing import Any

import pytest

from relay.cli.admin_client import (
    ApiError,
    Unreachable,
    follow_deployment,
    is_nothing_to_do,
    succeeded,
)

DONE = {"id": 7, "cluster": 10702, "status": "succeeded", "version": "a" * 40}


class FakeApi:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_connection_errors_and_5xx_are_retried_with_backoff(
        capsys: pytest.CaptureFixture[str]) -> None:
    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    api = FakeApi([{**DONE, "status": "rolling_out"}, Unreachable("refused"),
                   Unreachable("refused"), ApiError("HTTP 503", 503), Unreachable("reset"),
                   DONE])
    final = await follow_deployment(api, 7, 1.0, quiet=False, patience=60,  # type: ignore[arg-type]
                                    sleep=sleep)
    assert final["status"] == "succeeded"
    assert sleeps == [1.0, 0.25, 0.5, 1.0, 2.0]
    err = capsys.readouterr().err
    assert err.count("lost contact") == 1 and "reconnected" in err


async def test_a_4xx_ends_the_follow_at_once() -> None:
    async def sleep(s: float) -> None:
        raise AssertionError("no retry of a 404")

    with pytest.raises(ApiError):
        await follow_deployment(FakeApi([ApiError("HTTP 404", 404)]), 7, 1.0,  # type: ignore[arg-type]
                                quiet=True, patience=60, sleep=sleep)


async def test_patience_zero_gives_up_at_the_first_error() -> None:
    async def sleep(s: float) -> None:
        pass

    with pytest.raises(Unreachable, match="gave up"):
        await follow_deployment(FakeApi([Unreachable("refused")]), 7, 1.0,  # type: ignore[arg-type]
                                quiet=True, patience=0, sleep=sleep)


def test_skipped_as_already_running_is_a_success() -> None:
    skipped = {"status": "skipped", "error": "commit abc is already the cluster's version"}
    assert is_nothing_to_do(skipped) and succeeded(skipped)
    assert not succeeded({"status": "skipped", "error": "older: ..."})
    assert not succeeded({"status": "failed", "error": None})
