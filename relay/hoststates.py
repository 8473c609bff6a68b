"""The states relay reports to a git host, host-neutral (pure values, no I/O).

Shared by the pure reports table (relay.reports) and the git-host clients (relay.githost),
which map them to each host's names (docs/githost.md, docs/reporting.md).
"""

from __future__ import annotations

import enum

DESCRIPTION_MAX = 140  # GitHub's limit for status descriptions; used for every host


class CommitState(enum.StrEnum):
    """What a commit status says (mapped per host: GitLab `running` shows as GitHub `pending`)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"
    CANCELED = "canceled"


class DeploymentState(enum.StrEnum):
    """What a host deployment says (GitHub's names; GitLab maps them to its statuses)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"
    INACTIVE = "inactive"


def clip_description(text: str, limit: int = DESCRIPTION_MAX) -> str:
    """One line of at most `limit` characters, ending in an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "\u2026"
