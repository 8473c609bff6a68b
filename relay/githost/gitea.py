"""The Gitea / Forgejo REST API v1 client.

Endpoints (https://docs.gitea.com/api/1.22/, Forgejo alike):
    commit_status  POST /repos/{owner}/{repo}/statuses/{sha}
    checks         GET  /repos/{owner}/{repo}/commits/{sha}/status  (combined status)
    branch         GET  /repos/{owner}/{repo}/branches/{branch}  (If-None-Match)
    compare        GET  /repos/{owner}/{repo}/compare/{base}...{head}

Gitea has no deployments API: `supports_deployments` is False and the deployment calls raise
`Unsupported` without a request. Base URL: `https://HOST/api/v1`.
"""

from __future__ import annotations

from collections.abc import Collection
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
from relay.githost.checks import status_verdict, summarise
from relay.githost.errors import Unsupported
from relay.githost.shapes import Shape
from relay.githost.transport import HostClient, decode_json
from relay.secret import Secret

PAGE = 50  # Gitea's default maximum page size
MAX_PAGES = 10

# docs/githost.md, the Gitea column (as GitHub's: no `running`, no `canceled`).
COMMIT_STATES: dict[CommitState, str] = {
    CommitState.PENDING: "pending",
    CommitState.RUNNING: "pending",
    CommitState.SUCCESS: "success",
    CommitState.FAILURE: "failure",
    CommitState.ERROR: "error",
    CommitState.CANCELED: "error",
}


def _auth(token: Secret) -> dict[str, str]:
    return {"Authorization": f"token {token.reveal()}"}


class GiteaClient(HostClient):
    """`GitHost` for Gitea and Forgejo. Token scopes: `write:repository` (see docs/githost.md)."""

    host: ClassVar[str] = "gitea"
    supports_deployments: ClassVar[bool] = False
    auth = staticmethod(_auth)

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
        raise Unsupported(self.host, "deployment", "Gitea has no deployments API")

    async def set_deployment_status(self, repo: str, deployment_id: str, *,
                                    state: DeploymentState, description: str,
                                    environment_url: str | None = None,
                                    log_url: str | None = None) -> None:
        raise Unsupported(self.host, "deployment_status", "Gitea has no deployments API")

    async def checks(self, repo: str, sha: str, *, ignore: Collection[str] = ()) -> Checks:
        shape = Shape(self.host, "checks")
        found: list[tuple[str, ChecksState]] = []
        for page in range(1, MAX_PAGES + 1):
            data = shape.obj(await self._http.json(
                "checks", "GET", f"{_repo(repo)}/commits/{_seg(sha)}/status",
                params={"limit": str(PAGE), "page": str(page)}))
            statuses = shape.array(data.get("statuses") or [], "answer.statuses")
            for item in statuses:
                entry = shape.obj(item, "status")
                # Gitea names a status's state `status`; newer versions also send `state`.
                state = entry.get("status") or entry.get("state")
                if not isinstance(state, str):
                    raise shape.bad("status.status is missing or not a string")
                found.append((shape.text(entry, "context", "status"), status_verdict(state)))
            if len(statuses) < PAGE:
                break
        return summarise(found, ignore=ignore)

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
        return Head(shape.text(commit, "id", "answer.commit"), reply.headers.get("ETag"))

    async def compare(self, repo: str, base: str, head: str) -> Comparison:
        """The union of the files of each commit listed; incomplete when Gitea listed fewer
        commits than `total_commits` (it pages long comparisons)."""
        shape = Shape(self.host, "compare")
        data = shape.obj(await self._http.json(
            "compare", "GET", f"{_repo(repo)}/compare/{_seg(base)}...{_seg(head)}"))
        commits = shape.array(data.get("commits") or [], "answer.commits")
        paths: set[str] = set()
        for item in commits:
            for file in shape.array(shape.obj(item, "commit").get("files") or [], "files"):
                paths.add(shape.text(shape.obj(file, "file"), "filename", "file"))
        total = data.get("total_commits")
        complete = not isinstance(total, int) or total <= len(commits)
        return Comparison(tuple(sorted(paths)), complete=complete)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _repo(repo: str) -> str:
    owner, name = split_repo(repo)
    return f"/repos/{_seg(owner)}/{_seg(name)}"
