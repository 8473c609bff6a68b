"""Are a commit's checks green: per-host aggregation, and the `wait_for_checks` deadline (pure).

Inputs are small frozen values a host client fills in from:
- GitHub: the combined status (`GET /repos/{o}/{r}/commits/{ref}/status`, latest state per
  context) and the check runs (`GET .../commits/{ref}/check-runs`, latest run per name).
  https://docs.github.com/en/rest/commits/statuses and https://docs.github.com/en/rest/checks
- GitLab: the latest pipeline for the sha (`GET /projects/:id/pipelines?sha=...`, newest first).
- Gitea: the combined status (`GET /repos/{o}/{r}/commits/{ref}/status`).

Rules (docs/gates.md): green only when every counted check is green; red names every
failing one; anything else is pending. Nothing reported yet is pending, as in GitHub's own
combined status ("pending if there are no statuses"): a route that waits for checks on a
repository without CI waits until `timeout_s`. `contexts` names the required checks; empty:
every reported one counts. Unknown states count as pending (never as green).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


class State(enum.StrEnum):
    """A check's (or the whole commit's) verdict."""

    GREEN = "green"
    PENDING = "pending"
    RED = "red"


class OnTimeout(enum.StrEnum):
    """What `wait_for_checks` does when `timeout_s` passes with checks still pending."""

    SKIP = "skip"
    DEPLOY = "deploy"


@dataclass(frozen=True, slots=True)
class CommitStatus:
    """One context of a combined commit status (GitHub, Gitea).

    `state`: GitHub `error|failure|pending|success`; Gitea adds `warning`.
    """

    name: str
    state: str


@dataclass(frozen=True, slots=True)
class CheckRun:
    """One GitHub check run: `status` (`queued`, `in_progress`, `completed`, ...) and, once
    completed, `conclusion` (`success`, `failure`, `neutral`, `skipped`, `cancelled`, ...)."""

    name: str
    status: str
    conclusion: str | None = None


@dataclass(frozen=True, slots=True)
class CheckSuite:
    """One GitHub check suite, only to leave out suites with no runs (apps that never report:
    such a suite stays `queued` for ever). A suite with runs is judged through its runs."""

    app: str
    status: str
    runs: int


@dataclass(frozen=True, slots=True)
class Check:
    """One counted check after normalisation."""

    name: str
    state: State


@dataclass(frozen=True, slots=True)
class ChecksResult:
    """The commit's verdict: `failing` and `pending` name the checks behind a non-green one."""

    state: State
    failing: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()

    def describe(self) -> str:
        """The verdict in words, e.g. `checks failed: lint, test`."""
        if self.state is State.RED:
            return f"checks failed: {', '.join(self.failing)}"
        if self.state is State.PENDING:
            return f"checks pending: {', '.join(self.pending) or 'none reported yet'}"
        return "checks green"


_STATUS_STATES = {"success": State.GREEN, "warning": State.GREEN, "pending": State.PENDING,
                  "failure": State.RED, "error": State.RED}
_RUN_CONCLUSIONS = {
    "success": State.GREEN, "neutral": State.GREEN, "skipped": State.GREEN,
    "failure": State.RED, "cancelled": State.RED, "timed_out": State.RED,
    "action_required": State.RED, "startup_failure": State.RED, "stale": State.RED,
}
# https://docs.gitlab.com/api/pipelines/ : created, waiting_for_resource, preparing, pending,
# running, success, failed, canceled, canceling, skipped, manual, scheduled.
_PIPELINE_STATES = {"success": State.GREEN, "skipped": State.GREEN, "failed": State.RED,
                    "canceled": State.RED, "canceling": State.RED}


def github_checks(statuses: Iterable[CommitStatus], runs: Iterable[CheckRun],
                  suites: Iterable[CheckSuite] = ()) -> tuple[Check, ...]:
    """Normalise GitHub's statuses and check runs; `neutral` and `skipped` count as green.

    A suite with no runs is left out. When no run at all is listed yet, a suite that says it
    has runs and is not completed (its runs are being created) counts as one pending check
    named after its app.
    """
    checks = [Check(s.name, _STATUS_STATES.get(s.state, State.PENDING)) for s in statuses]
    run_list = list(runs)
    checks += [Check(r.name, _run_state(r)) for r in run_list]
    if not run_list:
        checks += [Check(s.app, State.PENDING) for s in suites
                   if s.runs > 0 and s.status != "completed"]
    return tuple(checks)


def gitea_checks(statuses: Iterable[CommitStatus]) -> tuple[Check, ...]:
    """Normalise Gitea's combined status; `warning` counts as green (it is not a failure)."""
    return tuple(Check(s.name, _STATUS_STATES.get(s.state, State.PENDING)) for s in statuses)


def gitlab_checks(pipeline_status: str | None, *, name: str = "pipeline") -> tuple[Check, ...]:
    """The latest pipeline for the sha as one check; None (no pipeline yet) reports nothing.

    `skipped` counts as green (as GitHub's skipped does); `manual` and the running states are
    pending; `failed`, `canceled` and `canceling` are red.
    """
    if pipeline_status is None:
        return ()
    return (Check(name, _PIPELINE_STATES.get(pipeline_status, State.PENDING)),)


def verdict(checks: Iterable[Check], contexts: Sequence[str] = ()) -> ChecksResult:
    """Aggregate: RED if any counted check is red, else PENDING if any is pending or missing
    (a required context not reported, or nothing reported at all), else GREEN.

    A name reported more than once counts with its worst state. Names in the result are
    sorted; required contexts are matched exactly.
    """
    worst: dict[str, State] = {}
    for check in checks:
        worst[check.name] = max(worst.get(check.name, State.GREEN), check.state, key=_rank)
    counted = {name: worst.get(name) for name in contexts} if contexts else dict(worst)
    failing = sorted(name for name, state in counted.items() if state is State.RED)
    pending = sorted(name for name, state in counted.items() if state in (None, State.PENDING))
    if failing:
        return ChecksResult(State.RED, tuple(failing), tuple(pending))
    if pending or not counted:
        return ChecksResult(State.PENDING, (), tuple(pending))
    return ChecksResult(State.GREEN)


@dataclass(frozen=True, slots=True)
class WaitForChecks:
    """A route's `wait_for_checks`: {timeout_s: 3600, contexts: [], on_timeout: skip}."""

    timeout_s: int = 3600
    contexts: tuple[str, ...] = ()
    on_timeout: OnTimeout = OnTimeout.SKIP

    def __post_init__(self) -> None:
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, int) \
                or self.timeout_s <= 0:
            raise ValueError(f"wait_for_checks.timeout_s: must be a whole number of seconds "
                             f"> 0, got {self.timeout_s!r}")


class Outcome(enum.StrEnum):
    """What to do with a `waiting_checks` deployment."""

    RELEASE = "release"  # checks green (or timed out with on_timeout: deploy): on to holds
    SKIP = "skip"  # `skipped`, with the reason
    WAIT = "wait"  # ask again (a delivery may wake it) no later than `deadline`


@dataclass(frozen=True, slots=True)
class ChecksDecision:
    """The decision; `reason` is for the deployment's `error` / the log line."""

    outcome: Outcome
    reason: str
    deadline: datetime


def decide_checks(config: WaitForChecks, result: ChecksResult, *, waiting_since: datetime,
                  now: datetime) -> ChecksDecision:
    """Green: RELEASE. Red: SKIP naming the failing checks. Pending before the deadline
    (`waiting_since + timeout_s`): WAIT. Pending at or after it: per `on_timeout`."""
    deadline = waiting_since + timedelta(seconds=config.timeout_s)
    if result.state is State.GREEN:
        return ChecksDecision(Outcome.RELEASE, result.describe(), deadline)
    if result.state is State.RED:
        return ChecksDecision(Outcome.SKIP, result.describe(), deadline)
    if now < deadline:
        return ChecksDecision(Outcome.WAIT, result.describe(), deadline)
    late = f"checks not green after {config.timeout_s} s ({result.describe()})"
    if config.on_timeout is OnTimeout.DEPLOY:
        return ChecksDecision(Outcome.RELEASE, f"{late}; deploying (on_timeout: deploy)", deadline)
    return ChecksDecision(Outcome.SKIP, late, deadline)


def poll_delay(attempt: int, *, now: datetime, deadline: datetime, jitter: float = 1.0,
               retry_after_s: float | None = None, rate_reset_at: datetime | None = None,
               base_s: float = 10.0, cap_s: float = 300.0) -> float:
    """Seconds until the next look at the host, for the `attempt`-th look (0-based).

    Exponential from `base_s`, capped at `cap_s`, scaled by `jitter` in [0, 1] (pass a random
    number: "equal jitter" keeps at least half the delay); at least the host's `Retry-After`
    and, when its rate limit is used up, until `rate_reset_at` (GitHub `x-ratelimit-reset`,
    GitLab `RateLimit-Reset`); never past `deadline`, so the timeout is seen on time.
    """
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter must be in [0, 1], got {jitter}")
    delay = min(cap_s, base_s * 2.0 ** min(attempt, 32)) * (0.5 + jitter / 2)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    if rate_reset_at is not None:
        delay = max(delay, (rate_reset_at - now).total_seconds())
    return max(0.0, min(delay, (deadline - now).total_seconds()))


def _run_state(run: CheckRun) -> State:
    if run.status != "completed":
        return State.PENDING
    return _RUN_CONCLUSIONS.get(run.conclusion or "", State.PENDING)


def _rank(state: State) -> int:
    return (State.GREEN, State.PENDING, State.RED).index(state)
