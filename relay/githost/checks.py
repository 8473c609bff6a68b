"""Pure: the rules that turn a host's checks into one `Checks` summary.

- GitHub (https://docs.github.com/en/rest/commits/statuses and /rest/checks/runs): each
  commit status (latest per context) and each check run (latest per name) counts; a
  conclusion of `success`, `neutral` or `skipped` is green, any other conclusion red, a run
  not `completed` pending. Only runs are read: a check suite with no runs (an app that
  registered but never ran anything) is ignored, as GitHub's branch protection does. The
  combined `state` is not used: it says `pending` for a commit with no status at all.
- GitLab (https://docs.gitlab.com/ee/api/pipelines.html, /api/commits.html): the latest
  pipeline for the sha; `success` and `skipped` green, `failed` and `canceled` red, anything
  else pending. When names must be left out (relay's own statuses join the pipeline and
  sway its status), the latest job or status of each name instead, a job with
  `allow_failure` never red.
- Gitea: commit statuses like GitHub's; `warning` counts as green.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from relay.githost.base import Checks, ChecksState

GREEN, PENDING, RED = ChecksState.GREEN, ChecksState.PENDING, ChecksState.RED

_STATUS = {"success": GREEN, "pending": PENDING, "failure": RED, "error": RED,
           "warning": GREEN}
_RUN_GREEN = frozenset({"success", "neutral", "skipped"})
_PIPELINE = {"success": GREEN, "skipped": GREEN, "failed": RED, "canceled": RED}


def status_verdict(state: str) -> ChecksState:
    """A GitHub / Gitea commit status state; an unknown one is pending (never green)."""
    return _STATUS.get(state, PENDING)


def check_run_verdict(status: str, conclusion: str | None) -> ChecksState:
    """A GitHub check run: not completed -> pending, else by conclusion."""
    if status != "completed":
        return PENDING
    return GREEN if conclusion in _RUN_GREEN else RED


def pipeline_verdict(status: str) -> ChecksState:
    """A GitLab pipeline status (created, pending, running, manual, ... are pending)."""
    return _PIPELINE.get(status, PENDING)


def job_verdict(status: str, *, allow_failure: bool = False) -> ChecksState:
    """A GitLab job or commit status: like a pipeline, except that a job allowed to fail
    (and a manual job allowed to be skipped) never blocks."""
    if allow_failure and status in ("failed", "canceled", "manual"):
        return GREEN
    return pipeline_verdict(status)


def summarise(items: Iterable[tuple[str, ChecksState]], *,
              ignore: Collection[str] = ()) -> Checks:
    """Red if any is red, else pending if any is pending, else green (no checks: green)."""
    failing: set[str] = set()
    pending: set[str] = set()
    total = 0
    for name, verdict in items:
        if name in ignore:
            continue
        total += 1
        if verdict is RED:
            failing.add(name)
        elif verdict is PENDING:
            pending.add(name)
    state = RED if failing else PENDING if pending else GREEN
    return Checks(state, tuple(sorted(failing)), tuple(sorted(pending)), total)
