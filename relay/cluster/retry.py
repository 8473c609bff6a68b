"""The retry policy of the cluster client: a value passed in, so tests use a zero-wait one.

Defaults follow hynek/stamina: exponential backoff from 0.1 s capped at 5 s, with full jitter,
at most 10 attempts and 45 s in all. Only `retriable` errors (unavailable, 5xx, 429) are
retried; a 429's Retry-After is honoured up to `retry_after_max_s`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from relay.cluster.errors import ClusterApiError, RateLimited, ServerError, Unavailable

Sleep = Callable[[float], Awaitable[None]]
RetryPredicate = Callable[[ClusterApiError], bool]
OnRetry = Callable[[ClusterApiError, int, float], None]


async def _no_sleep(_seconds: float) -> None:
    """Yield to the loop once, wait for nothing: the zero-wait policy's sleep."""
    await asyncio.sleep(0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the client retries: bounded in attempts and total time, jittered."""

    attempts: int = 10
    total_s: float = 45.0
    wait_initial_s: float = 0.1
    wait_max_s: float = 5.0
    wait_exp_base: float = 2.0
    jitter: bool = True
    retry_after_max_s: float = 30.0
    sleep: Sleep = field(default=asyncio.sleep, repr=False, compare=False)
    rand: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    @classmethod
    def no_wait(cls, attempts: int = 3, *, sleep: Sleep | None = None) -> RetryPolicy:
        """A policy that never waits for real (for tests); Retry-After is still computed."""
        return cls(attempts=attempts, wait_initial_s=0.0, wait_max_s=0.0, jitter=False,
                   sleep=sleep or _no_sleep)

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt only."""
        return cls(attempts=1)

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1-based): full-jitter exponential."""
        ceiling = min(self.wait_max_s, self.wait_initial_s * self.wait_exp_base ** (attempt - 1))
        return ceiling * self.rand() if self.jitter else ceiling

    def wait_for(self, attempt: int, error: BaseException | None) -> float:
        """The wait before the next attempt: Retry-After (capped) for a 429, else backoff."""
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return min(error.retry_after, self.retry_after_max_s)
        return self.backoff(attempt)

    def retrying(self, may_retry: RetryPredicate, on_retry: OnRetry | None = None
                 ) -> AsyncRetrying:
        """A tenacity controller for one call; re-raises the last error when it gives up."""

        def should_retry(exc: BaseException) -> bool:
            return isinstance(exc, ClusterApiError) and exc.retriable and may_retry(exc)

        def wait(state: RetryCallState) -> float:
            return self.wait_for(state.attempt_number, _error_of(state))

        def before_sleep(state: RetryCallState) -> None:
            error = _error_of(state)
            if on_retry is not None and isinstance(error, ClusterApiError):
                seconds = state.upcoming_sleep
                on_retry(error, state.attempt_number, seconds)

        return AsyncRetrying(
            stop=stop_after_attempt(max(1, self.attempts)) | stop_before_delay(self.total_s),
            wait=wait,
            retry=retry_if_exception(should_retry),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )


def _error_of(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


def always(_error: ClusterApiError) -> bool:
    """Retry every retriable error: for idempotent operations."""
    return True


def before_it_reached_the_server(error: ClusterApiError) -> bool:
    """Retry a non-idempotent call (create) only when it surely was not carried out.

    Safe: the connection was never established; a 429 (the server refused to look at it);
    a 503 (service unavailable: refused before processing). Not safe: a timeout or a reset
    after the request was sent, and 500/502/504, which may come after the cluster was made.
    """
    if isinstance(error, Unavailable):
        return not error.reached
    if isinstance(error, ServerError):
        return error.status == 503
    return isinstance(error, RateLimited)
