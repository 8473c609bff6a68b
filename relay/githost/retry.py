"""Retries of git-host calls: relay's one `RetryPolicy` (relay/cluster/retry.py) applied to
this boundary's error tree.

The policy value is the same class the cluster client takes (so the same defaults, the same
zero-wait `RetryPolicy.no_wait()` in tests, the same injected `sleep`). What differs is only
which errors count: `GitHostError.retriable` (5xx, rate limits, no answer), and a rate limit
whose wait exceeds `policy.retry_after_max_s` is not waited for in the call: it is raised at
once, carrying the wait, so that the caller (the outbox) schedules it instead of holding a
task for minutes.
"""

from __future__ import annotations

from collections.abc import Callable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from relay.cluster.retry import RetryPolicy
from relay.githost.errors import GitHostError, RateLimited, ServerError, Unavailable

RetryPredicate = Callable[[GitHostError], bool]
OnRetry = Callable[[GitHostError, int, float], None]

__all__ = ["OnRetry", "RetryPolicy", "RetryPredicate", "always", "before_it_reached_the_host",
           "retrying", "wait_for"]


def always(_error: GitHostError) -> bool:
    """Retry every retriable error: for idempotent calls (reads, setting a status)."""
    return True


def before_it_reached_the_host(error: GitHostError) -> bool:
    """Retry a create only when it surely was not carried out.

    Safe: no connection was made; a rate limit (the host refused to look at it); a 503
    (refused before processing). Not safe: a timeout or reset after sending, 500/502/504.
    """
    if isinstance(error, Unavailable):
        return not error.reached
    if isinstance(error, ServerError):
        return error.status == 503
    return isinstance(error, RateLimited)


def wait_for(policy: RetryPolicy, attempt: int, error: BaseException | None) -> float:
    """The wait before the next attempt: the host's rate-limit wait, else the backoff."""
    if isinstance(error, RateLimited) and error.retry_after is not None:
        return min(error.retry_after, policy.retry_after_max_s)
    return policy.backoff(attempt)


def retrying(policy: RetryPolicy, may_retry: RetryPredicate,
             on_retry: OnRetry | None = None) -> AsyncRetrying:
    """A tenacity controller for one call; re-raises the last error when it gives up."""

    def should_retry(exc: BaseException) -> bool:
        if not isinstance(exc, GitHostError) or not exc.retriable or not may_retry(exc):
            return False
        too_long = isinstance(exc, RateLimited) and exc.retry_after is not None \
            and exc.retry_after > policy.retry_after_max_s
        return not too_long

    def wait(state: RetryCallState) -> float:
        return wait_for(policy, state.attempt_number, _error_of(state))

    def before_sleep(state: RetryCallState) -> None:
        error = _error_of(state)
        if on_retry is not None and isinstance(error, GitHostError):
            on_retry(error, state.attempt_number, state.upcoming_sleep)

    return AsyncRetrying(
        stop=stop_after_attempt(max(1, policy.attempts)) | stop_before_delay(policy.total_s),
        wait=wait,
        retry=retry_if_exception(should_retry),
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def _error_of(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None
