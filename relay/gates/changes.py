"""The files a push changed, as far as its payload tells, and whether the payload tells all (pure).

GitHub, GitLab and Gitea push payloads carry `commits[]` with `added`, `modified` and
`removed` file lists, but not always for the whole push:
- GitHub gives no total count. Its webhook schema says `commits` holds at most 2048 commits
  (the limit of 20 in older pages applies to timeline events, not webhook deliveries:
  https://docs.github.com/en/webhooks/webhook-events-and-payloads#push). relay still treats
  a GitHub push that lists 20 commits or more as possibly cut short: an extra compare call
  for a large push costs little, a missed change would skip a deployment. A new branch
  (`created: true`) or a forced push (`forced: true`) does not list what changed against the
  previous head.
- GitLab lists at most 20 commits; `total_commits_count` says how many the push had
  (https://docs.gitlab.com/user/project/integrations/webhook_events/#push-events).
- Gitea sends `total_commits` beside `commits[]`.
When the lists are missing or cut short, `incomplete_reason` says why, and the caller asks the
host's compare API (or, without one, deploys and records the reason: relay never guesses that
nothing changed).

The lists are read only when a route asks for them (`paths` or `paths_ignore`): the webhook
handler passes `file_lists=False` when no route has either (`Settings.reads_file_lists`), and
`commits` is then None, which reads as incomplete, never as "nothing changed".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

COMMIT_LIST_LIMIT = 20  # the most commits a host sends with file lists


@dataclass(frozen=True, slots=True)
class CommitFiles:
    """One commit's file lists; None where the payload had no list."""

    added: tuple[str, ...] | None = ()
    modified: tuple[str, ...] | None = ()
    removed: tuple[str, ...] | None = ()

    @property
    def complete(self) -> bool:
        """All three lists are present."""
        return None not in (self.added, self.modified, self.removed)

    @property
    def files(self) -> tuple[str, ...]:
        """Every path in the three lists (missing lists count as empty)."""
        return (self.added or ()) + (self.modified or ()) + (self.removed or ())


@dataclass(frozen=True, slots=True)
class PushChanges:
    """What a push payload says about its changes.

    `commits`: each listed commit's file lists, or None when they were not read (no route
    filters paths: see the module's docstring). `total_commits`: the host's count of commits
    in the push when it gives one (GitLab, Gitea), else None (GitHub). `limit`: the most
    commits the host lists with files.
    """

    commits: tuple[CommitFiles, ...] | None
    head_message: str | None = None
    created: bool = False
    forced: bool = False
    total_commits: int | None = None
    limit: int = COMMIT_LIST_LIMIT

    @property
    def files(self) -> frozenset[str]:
        """Every changed path over all the listed commits (added, modified or removed).

        Raises ValueError when the lists were not read (`commits` None): an empty set would
        say that nothing changed. Ask `incomplete_reason` first.
        """
        if self.commits is None:
            raise ValueError("the payload's file lists were not read")
        return frozenset(path for commit in self.commits for path in commit.files)

    def incomplete_reason(self) -> str | None:
        """Why the file lists may not cover the whole push; None when they do. A ladder."""
        if self.commits is None:
            return "the payload's file lists were not read"
        listed = len(self.commits)
        if self.created:
            return "a new branch: the payload does not list what changed against a base"
        if self.forced:
            return "a forced push: the payload does not list what changed against the old head"
        if listed == 0:
            return "the payload lists no commits"
        if self.total_commits is not None and self.total_commits > listed:
            return f"the push has {self.total_commits} commits and the payload lists {listed}"
        if self.total_commits is None and listed >= self.limit:
            return (f"the payload lists {listed} commits, the most the host sends with files: "
                    "the list may be cut short")
        if not all(commit.complete for commit in self.commits):
            return "a commit in the payload has no file lists"
        return None


def changes_from_github(payload: Mapping[str, Any], *, file_lists: bool = True) -> PushChanges:
    """PushChanges of a GitHub push payload (decoded JSON). Missing keys read as absent.

    `file_lists` False: the commits' file lists are not read (`commits` is None).
    """
    head = payload.get("head_commit")
    return PushChanges(
        commits=_commits(payload.get("commits")) if file_lists else None,
        head_message=_message(head),
        created=payload.get("created") is True or _is_zero(payload.get("before")),
        forced=payload.get("forced") is True,
    )


def changes_from_gitlab(payload: Mapping[str, Any], *, file_lists: bool = True) -> PushChanges:
    """PushChanges of a GitLab push or tag push payload (decoded JSON).

    The head commit is the listed commit whose id is `checkout_sha` (else `after`).
    `file_lists` False: the commits' file lists are not read (`commits` is None).
    """
    commits = payload.get("commits")
    head_id = payload.get("checkout_sha") or payload.get("after")
    head = next((c for c in commits or () if isinstance(c, Mapping) and c.get("id") == head_id),
                None)
    return PushChanges(
        commits=_commits(commits) if file_lists else None,
        head_message=_message(head),
        created=_is_zero(payload.get("before")),
        total_commits=_count(payload.get("total_commits_count")),
    )


def changes_from_gitea(payload: Mapping[str, Any], *, file_lists: bool = True) -> PushChanges:
    """PushChanges of a Gitea (or Forgejo) push payload (decoded JSON).

    `file_lists` False: the commits' file lists are not read (`commits` is None).
    """
    return PushChanges(
        commits=_commits(payload.get("commits")) if file_lists else None,
        head_message=_message(payload.get("head_commit")),
        created=payload.get("created") is True or _is_zero(payload.get("before")),
        forced=payload.get("forced") is True,
        total_commits=_count(payload.get("total_commits")),
    )


def _commits(value: object) -> tuple[CommitFiles, ...]:
    if not isinstance(value, list):
        return ()
    return tuple([CommitFiles(_paths(c.get("added")), _paths(c.get("modified")),
                              _paths(c.get("removed")))
                  for c in value if type(c) is dict or isinstance(c, Mapping)])


_IS_STR = str.__instancecheck__  # isinstance(x, str) as a C function, for filter()


def _paths(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(filter(_IS_STR, value))


def _message(commit: object) -> str | None:
    if isinstance(commit, Mapping) and isinstance(commit.get("message"), str):
        return str(commit["message"])
    return None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _is_zero(sha: object) -> bool:
    """A non-empty string of zeros only (no set built: this runs for every push)."""
    return isinstance(sha, str) and sha != "" and not sha.strip("0")
