"""The live state of one fake git host: repositories, what it received, and its faults.

Plain Python, no I/O: tests set repositories, branch heads, commits with changed files,
check runs and pipelines here, and read the records back (`statuses`, `deployments`). The
aiohttp apps of relay.fakegit serve it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from relay.fakegit.faults import GitFaults
from relay.simulator.faults import Faults

MAX_STATUSES_PER_CONTEXT = 1000  # GitHub: a sha and context accept at most 1,000 statuses


class FakeError(Exception):
    """An error answer of the fake: HTTP status and the host's message (`errors` optional)."""

    def __init__(self, status: int, message: str, *, field_name: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field_name = field_name


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """One commit status as the host received it (states in the host's own words)."""

    seq: int
    repo: str
    sha: str
    state: str
    context: str
    description: str
    target_url: str | None


@dataclass(frozen=True, slots=True)
class DeploymentStatusRecord:
    seq: int
    state: str
    description: str
    environment_url: str | None = None
    log_url: str | None = None


@dataclass(slots=True)
class DeploymentRecord:
    """One host deployment and the statuses it went through, in order."""

    id: int
    repo: str
    sha: str
    ref: str
    environment: str
    description: str
    statuses: list[DeploymentStatusRecord] = field(default_factory=list)

    @property
    def state(self) -> str | None:
        return self.statuses[-1].state if self.statuses else None

    def view(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state}


@dataclass(frozen=True, slots=True)
class CheckRun:
    """A GitHub check run: `status` queued/in_progress/completed, `conclusion` when completed."""

    name: str
    status: str = "completed"
    conclusion: str | None = "success"


@dataclass(frozen=True, slots=True)
class Job:
    """A GitLab CI job: `status` as GitLab names it; a failure `allow_failure` does not fail
    the pipeline."""

    name: str
    status: str = "success"
    allow_failure: bool = False


@dataclass(slots=True)
class Pipeline:
    """A GitLab pipeline of a commit; `source` `external` for one made by posted statuses.

    `status` is what tests set; once it has jobs or posted statuses, the fake derives it from
    them (see relay.fakegit.gitlab).
    """

    id: int
    repo: str
    sha: str
    ref: str
    status: str
    source: str = "push"
    jobs: list[Job] = field(default_factory=list)


@dataclass(slots=True)
class Commit:
    sha: str
    parent: str | None
    files: tuple[str, ...]


@dataclass(slots=True)
class Repo:
    name: str
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    check_runs: dict[str, list[CheckRun]] = field(default_factory=dict)


class FakeHost:
    """One fake host's state.

    `lenient` (for a relay run with nothing set up, `api.url: embedded` and `relay
    fake-git`): an unknown repository springs into existence on first use, an unknown 40-hex
    sha is taken as a commit with no files, and a GitLab deployment of an unknown branch
    creates the branch at its sha. Strict (the default for tests): all of these are 404s.
    """

    def __init__(self, source: str, *, faults: Faults | None = None,
                 lenient: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.source = source
        self.repos: dict[str, Repo] = {}
        self.statuses: list[StatusRecord] = []
        self.deployments: list[DeploymentRecord] = []
        self.pipelines: list[Pipeline] = []
        self.faults = faults if faults is not None else GitFaults()
        self.lenient = lenient
        self.clock = clock
        self.requests = 0  # every API request that arrived (faults and 401s included)
        self.rate_used = 0  # requests that count against the rate limit (a 304 does not)
        self.released = asyncio.Event()  # set at shutdown: injected hangs end
        self._seq = 0

    # --- set-up ---------------------------------------------------------------------------

    def add_repo(self, name: str, *, branches: dict[str, str] | None = None) -> Repo:
        """Add (or return) a repository; each branch head also becomes a known commit."""
        repo = self.repos.setdefault(name, Repo(name))
        for branch, sha in (branches or {}).items():
            self.set_branch(name, branch, sha)
        return repo

    def add_commit(self, repo: str, sha: str, *, files: Iterable[str] = (),
                   parent: str | None = None) -> Commit:
        """Add a commit changing `files` relative to `parent`."""
        commit = Commit(sha, parent, tuple(files))
        self.repo(repo).commits[sha] = commit
        return commit

    def set_branch(self, repo: str, branch: str, sha: str) -> None:
        """Point `branch` at `sha` (added as a commit with no files if unknown)."""
        found = self.repo(repo)
        found.commits.setdefault(sha, Commit(sha, found.branches.get(branch), ()))
        found.branches[branch] = sha

    def set_check_runs(self, repo: str, sha: str, runs: Iterable[CheckRun]) -> None:
        self.repo(repo).check_runs[sha] = list(runs)

    def add_pipeline(self, repo: str, sha: str, status: str = "created", *,
                     ref: str = "main", source: str = "push",
                     jobs: Iterable[Job] = ()) -> Pipeline:
        """Add a GitLab pipeline (the newest of the commit) with `status` or `jobs`."""
        self.commit(repo, sha)
        pipeline = Pipeline(len(self.pipelines) + 1, repo, sha, ref, status, source,
                            list(jobs))
        self.pipelines.append(pipeline)
        return pipeline

    # --- lookups (raise FakeError 404) ----------------------------------------------------

    def repo(self, name: str) -> Repo:
        found = self.repos.get(name)
        if found is None and self.lenient and _is_path(name):
            found = self.add_repo(name)
        if found is None:
            raise FakeError(404, "Not Found")
        return found

    def commit(self, repo: str, ref: str) -> Commit:
        """A commit by sha, branch or tag name."""
        found = self.repo(repo)
        sha = found.branches.get(ref) or found.tags.get(ref) or ref
        commit = found.commits.get(sha)
        if commit is None and self.lenient and _is_sha(sha):
            commit = found.commits[sha] = Commit(sha, None, ())
        if commit is None:
            raise FakeError(404, f"No commit found for SHA: {ref}")
        return commit

    def changed_files(self, repo: str, base: str, head: str) -> list[Commit]:
        """The commits after `base` up to `head`, newest first (404 when base is no ancestor)."""
        stop = self.commit(repo, base).sha
        walk: list[Commit] = []
        commit: Commit | None = self.commit(repo, head)
        while commit is not None and commit.sha != stop:
            walk.append(commit)
            commit = self.repos[repo].commits.get(commit.parent) if commit.parent else None
        if commit is None:
            raise FakeError(404, f"{base} is not an ancestor of {head}")
        return walk

    def pipelines_of(self, repo: str, sha: str) -> list[Pipeline]:
        return [p for p in self.pipelines if p.repo == repo and p.sha == sha]

    def etag(self, repo: str, branch: str, sha: str) -> str:
        digest = hashlib.sha256(f"{repo}\0{branch}\0{sha}".encode()).hexdigest()[:32]
        return f'W/"{digest}"'

    # --- records --------------------------------------------------------------------------

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def record_status(self, repo: str, sha: str, state: str, context: str, description: str,
                      target_url: str | None) -> StatusRecord:
        record = StatusRecord(self.next_seq(), repo, sha, state, context, description,
                              target_url)
        self.statuses.append(record)
        return record

    def statuses_of(self, repo: str, sha: str) -> list[StatusRecord]:
        """The latest status of each context on a commit, newest first."""
        latest: dict[str, StatusRecord] = {}
        for record in reversed(self.statuses):
            if record.repo == repo and record.sha == sha:
                latest.setdefault(record.context, record)
        return list(latest.values())

    def deployment(self, repo: str, deployment_id: str) -> DeploymentRecord:
        for record in self.deployments:
            if str(record.id) == deployment_id and record.repo == repo:
                return record
        raise FakeError(404, "Not Found")

    def status_views(self) -> list[dict[str, Any]]:
        return [asdict(s) for s in self.statuses]

    def deployment_views(self) -> list[dict[str, Any]]:
        return [d.view() for d in self.deployments]


def _is_path(name: str) -> bool:
    parts = name.split("/")
    return len(parts) >= 2 and all(parts)


def _is_sha(text: str) -> bool:
    return len(text) == 40 and all(c in "0123456789abcdef" for c in text)
