"""The small interface every git-host client implements, and the values it speaks.

States are host-neutral here; each client maps them to its host's names in one table
(docs/githost.md: GitHub / Gitea commit states `pending success failure error`, GitLab
`pending running success failed canceled`; GitHub deployment states `queued in_progress
success failure error inactive`, GitLab deployment statuses `running success failed
canceled`). Pure: no I/O in this module.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from typing import ClassVar, Protocol

# The clients' vocabulary, shared with the pure reports table; re-exported from here.
from relay.hoststates import DESCRIPTION_MAX as DESCRIPTION_MAX
from relay.hoststates import CommitState as CommitState
from relay.hoststates import DeploymentState as DeploymentState
from relay.hoststates import clip_description as clip_description


class ChecksState(enum.StrEnum):
    GREEN = "green"
    PENDING = "pending"
    RED = "red"


@dataclass(frozen=True, slots=True)
class Checks:
    """A commit's checks in one word, plus the names behind it (sorted, de-duplicated).

    `total` counts the checks looked at (0: the commit has none, which is green).
    """

    state: ChecksState
    failing: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    total: int = 0


@dataclass(frozen=True, slots=True)
class Head:
    """A branch head: its commit and the ETag to send next time (None if the host gave none)."""

    sha: str
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class NotModified:
    """The branch head is unchanged since the ETag sent (a 304: free on GitHub's rate limit)."""

    etag: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """The paths changed between two commits (renames give both paths); `complete` is False
    when the host truncated the list (GitHub: 300 files), so a path filter must not trust it.
    """

    files: tuple[str, ...]
    complete: bool = True


class GitHost(Protocol):
    """One host's API, as relay uses it. Every call has a timeout and the bounded retry of
    `relay.githost.retry`; errors are those of `relay.githost.errors`. `repo` is the full
    path (`owner/name`, GitLab `group/sub/project`); `sha` a full 40-hex commit.
    """

    host: ClassVar[str]  # github | gitlab | gitea (the metric label)
    supports_deployments: ClassVar[bool]

    async def set_commit_status(self, repo: str, sha: str, *, state: CommitState,
                                context: str, description: str,
                                target_url: str | None = None) -> None:
        """Set the status `context` on a commit; `description` is clipped to 140 chars."""
        ...

    async def create_deployment(self, repo: str, *, sha: str, ref: str, environment: str,
                                description: str, state: DeploymentState,
                                tag: bool = False) -> str:
        """Create a host deployment of `sha` (from branch, or tag when `tag`, `ref`); return
        its id.

        GitHub's create carries no state (set it with `set_deployment_status`); GitLab's
        requires one (`state`). Not idempotent: retried only when it surely did not reach
        the host. Raises `Unsupported` where `supports_deployments` is False.
        """
        ...

    async def set_deployment_status(self, repo: str, deployment_id: str, *,
                                    state: DeploymentState, description: str,
                                    environment_url: str | None = None,
                                    log_url: str | None = None) -> None:
        """Move a host deployment to `state`."""
        ...

    async def checks(self, repo: str, sha: str, *, ignore: Collection[str] = ()) -> Checks:
        """Summarise the commit's checks; names in `ignore` (relay's own contexts) are skipped."""
        ...

    async def branch_head(self, repo: str, branch: str, *,
                          etag: str | None = None) -> Head | NotModified:
        """Read a branch head, conditionally when `etag` is given."""
        ...

    async def compare(self, repo: str, base: str, head: str) -> Comparison:
        """The files changed from `base` to `head`."""
        ...


def split_repo(repo: str) -> tuple[str, str]:
    """`owner/name` -> (owner, name); ValueError naming the repo when it is not that shape."""
    owner, sep, name = repo.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise ValueError(f"repository {repo!r} is not 'owner/name'")
    return owner, name
