"""The GitHub REST API client (github.com and GitHub Enterprise Server).

Endpoints (https://docs.github.com/en/rest, API version 2022-11-28):
    commit_status      POST /repos/{owner}/{repo}/statuses/{sha}
    deployment         POST /repos/{owner}/{repo}/deployments
    deployment_status  POST /repos/{owner}/{repo}/deployments/{id}/statuses
    checks             GET  /repos/{owner}/{repo}/commits/{sha}/status
                       GET  /repos/{owner}/{repo}/commits/{sha}/check-runs
    branch             GET  /repos/{owner}/{repo}/branches/{branch}  (If-None-Match)
    compare            GET  /repos/{owner}/{repo}/compare/{base}...{head}

Base URL: `https://api.github.com`, or `https://HOST/api/v3` for Enterprise Server.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from relay.githost.base import (
    Checks,
    ChecksState,
    CommitState,
    Comparison,
    DeploymentState,
    Head,
    NotModified,
    clip_description,
    split_repo,
)
from relay.githost.checks import check_run_verdict, status_verdict, summarise
from relay.githost.retry import before_it_reached_the_host
from relay.githost.shapes import Shape
from relay.githost.transport import HostClient, decode_json
from relay.secret import Secret

COMPARE_FILES_MAX = 300  # GitHub lists at most 300 files in a comparison
PAGE = 100
MAX_PAGES = 5  # at most 500 statuses and 500 check runs are read per commit

# docs/githost.md, the GitHub column: GitHub has no `running` or `canceled` commit state.
COMMIT_STATES: dict[CommitState, str] = {
    CommitState.PENDING: "pending",
    CommitState.RUNNING: "pending",
    CommitState.SUCCESS: "success",
    CommitState.FAILURE: "failure",
    CommitState.ERROR: "error",
    CommitState.CANCELED: "error",
}
DEPLOYMENT_STATES: dict[DeploymentState, str] = {s: s.value for s in DeploymentState}


def _auth(token: Secret) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.reveal()}"}


class GitHubClient(HostClient):
    """`GitHost` for GitHub. Tokens: see docs/githost.md (fine-grained: Commit statuses and
    Deployments read/write, Contents and Checks read)."""

    host: ClassVar[str] = "github"
    supports_deployments: ClassVar[bool] = True
    auth = staticmethod(_auth)
    accept: ClassVar[str] = "application/vnd.github+json"
    extra_headers: ClassVar[Mapping[str, str]] = {"X-GitHub-Api-Version": "2022-11-28"}

    async def set_commit_status(self, repo: str, sha: str, *, state: CommitState,
                                context: str, description: str,
                                target_url: str | None = None) -> None:
        body: dict[str, Any] = {"state": COMMIT_STATES[state], "context": context,
                                "description": clip_description(description)}
        if target_url:
            body["target_url"] = target_url
        await self._http.call("commit_status", "POST",
                              f"{_repo(repo)}/statuses/{_seg(sha)}", body=body)

    async def create_deployment(self, repo: str, *, sha: str, ref: str, environment: str,
                                description: str, state: DeploymentState,
                                tag: bool = False) -> str:
        """POST a deployment of `sha` (GitHub's `ref` is the sha itself, so the deployment
        is of exactly that commit); `state` is not sent: GitHub's create has none."""
        body = {"ref": sha, "environment": environment,
                "description": clip_description(description), "auto_merge": False,
                "required_contexts": [], "task": "deploy"}
        data = await self._http.json("deployment", "POST", f"{_repo(repo)}/deployments",
                                     body=body, may_retry=before_it_reached_the_host)
        shape = Shape(self.host, "deployment")
        return shape.ident(shape.obj(data))

    async def set_deployment_status(self, repo: str, deployment_id: str, *,
                                    state: DeploymentState, description: str,
                                    environment_url: str | None = None,
                                    log_url: str | None = None) -> None:
        body: dict[str, Any] = {"state": DEPLOYMENT_STATES[state],
                                "description": clip_description(description)}
        if environment_url:
            body["environment_url"] = environment_url
        if log_url:
            body["log_url"] = log_url
        path = f"{_repo(repo)}/deployments/{_seg(deployment_id)}/statuses"
        await self._http.call("deployment_status", "POST", path, body=body)

    async def checks(self, repo: str, sha: str, *, ignore: Collection[str] = ()) -> Checks:
        items = [*await self._statuses(repo, sha), *await self._check_runs(repo, sha)]
        return summarise(items, ignore=ignore)

    async def _statuses(self, repo: str, sha: str) -> list[tuple[str, ChecksState]]:
        shape = Shape(self.host, "checks")
        found: list[tuple[str, ChecksState]] = []
        for page in range(1, MAX_PAGES + 1):
            data = shape.obj(await self._http.json(
                "checks", "GET", f"{_repo(repo)}/commits/{_seg(sha)}/status",
                params={"per_page": str(PAGE), "page": str(page)}))
            statuses = shape.array(data.get("statuses"), "answer.statuses")
            for item in statuses:
                entry = shape.obj(item, "status")
                found.append((shape.text(entry, "context", "status"),
                              status_verdict(shape.text(entry, "state", "status"))))
            if len(statuses) < PAGE:
                break
        return found

    async def _check_runs(self, repo: str, sha: str) -> list[tuple[str, ChecksState]]:
        shape = Shape(self.host, "checks")
        found: list[tuple[str, ChecksState]] = []
        for page in range(1, MAX_PAGES + 1):
            data = shape.obj(await self._http.json(
                "checks", "GET", f"{_repo(repo)}/commits/{_seg(sha)}/check-runs",
                params={"per_page": str(PAGE), "page": str(page), "filter": "latest"}))
            runs = shape.array(data.get("check_runs"), "answer.check_runs")
            for item in runs:
                run = shape.obj(item, "check run")
                conclusion = run.get("conclusion")
                found.append((shape.text(run, "name", "check run"), check_run_verdict(
                    shape.text(run, "status", "check run"),
                    conclusion if isinstance(conclusion, str) else None)))
            if len(runs) < PAGE:
                break
        return found

    async def branch_head(self, repo: str, branch: str, *,
                          etag: str | None = None) -> Head | NotModified:
        headers = {"If-None-Match": etag} if etag else None
        reply = await self._http.call("branch", "GET", f"{_repo(repo)}/branches/{_seg(branch)}",
                                      headers=headers, not_modified_ok=etag is not None)
        if reply.status == 304 and etag is not None:
            return NotModified(etag)
        shape = Shape(self.host, "branch")
        data = shape.obj(decode_json(self.host, "branch", reply))
        commit = shape.obj(data.get("commit"), "answer.commit")
        return Head(shape.text(commit, "sha", "answer.commit"), reply.headers.get("ETag"))

    async def compare(self, repo: str, base: str, head: str) -> Comparison:
        shape = Shape(self.host, "compare")
        data = shape.obj(await self._http.json(
            "compare", "GET", f"{_repo(repo)}/compare/{_seg(base)}...{_seg(head)}"))
        files = shape.array(data.get("files", []), "answer.files")
        paths: set[str] = set()
        for item in files:
            entry = shape.obj(item, "file")
            paths.add(shape.text(entry, "filename", "file"))
            previous = entry.get("previous_filename")
            if isinstance(previous, str):
                paths.add(previous)
        return Comparison(tuple(sorted(paths)), complete=len(files) < COMPARE_FILES_MAX)


def _seg(value: str) -> str:
    """One path segment, percent-encoded (a branch `feature/x` becomes `feature%2Fx`)."""
    return quote(value, safe="")


def _repo(repo: str) -> str:
    owner, name = split_repo(repo)
    return f"/repos/{_seg(owner)}/{_seg(name)}"
