"""The GitLab REST API v4 client (gitlab.com and self-managed).

Endpoints (https://docs.gitlab.com/ee/api/), `{id}` being the URL-encoded project path:
    commit_status      POST /projects/{id}/statuses/{sha}
    deployment         POST /projects/{id}/deployments
    deployment_status  PUT  /projects/{id}/deployments/{deployment_id}
    checks             GET  /projects/{id}/pipelines?sha=...  (the latest pipeline)
                       GET  /projects/{id}/repository/commits/{sha}/statuses  (with ignore)
    branch             GET  /projects/{id}/repository/branches/{branch}  (If-None-Match)
    compare            GET  /projects/{id}/repository/compare?from=&to=

Base URL: `https://gitlab.com/api/v4`, or `https://HOST/api/v4`.
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
)
from relay.githost.checks import job_verdict, pipeline_verdict, summarise
from relay.githost.retry import before_it_reached_the_host
from relay.githost.shapes import Shape
from relay.githost.transport import HostClient, decode_json
from relay.secret import Secret

# docs/githost.md, the GitLab column.
COMMIT_STATES: dict[CommitState, str] = {
    CommitState.PENDING: "pending",
    CommitState.RUNNING: "running",
    CommitState.SUCCESS: "success",
    CommitState.FAILURE: "failed",
    CommitState.ERROR: "failed",
    CommitState.CANCELED: "canceled",
}
# GitLab's API takes only running, success, failed and canceled (lib/api/deployments.rb):
# `created` cannot be set through it, so a queued deployment shows as `running`.
DEPLOYMENT_STATES: dict[DeploymentState, str] = {
    DeploymentState.QUEUED: "running",
    DeploymentState.IN_PROGRESS: "running",
    DeploymentState.SUCCESS: "success",
    DeploymentState.FAILURE: "failed",
    DeploymentState.ERROR: "failed",
    DeploymentState.INACTIVE: "canceled",
}


def _auth(token: Secret) -> dict[str, str]:
    return {"PRIVATE-TOKEN": token.reveal()}


class GitLabClient(HostClient):
    """`GitHost` for GitLab. Token: a project access token with the `api` scope and the
    Developer role (see docs/githost.md)."""

    host: ClassVar[str] = "gitlab"
    supports_deployments: ClassVar[bool] = True
    auth = staticmethod(_auth)

    async def set_commit_status(self, repo: str, sha: str, *, state: CommitState,
                                context: str, description: str,
                                target_url: str | None = None) -> None:
        body: dict[str, Any] = {"state": COMMIT_STATES[state], "name": context,
                                "description": clip_description(description)}
        if target_url:
            body["target_url"] = target_url
        await self._http.call("commit_status", "POST",
                              f"{_project(repo)}/statuses/{_seg(sha)}", body=body)

    async def create_deployment(self, repo: str, *, sha: str, ref: str, environment: str,
                                description: str, state: DeploymentState,
                                tag: bool = False) -> str:
        """POST a deployment; GitLab requires an existing `ref` and a status (`state`).
        `description` is not sent: GitLab deployments have none."""
        body = {"environment": environment, "sha": sha, "ref": ref, "tag": tag,
                "status": DEPLOYMENT_STATES[state]}
        data = await self._http.json("deployment", "POST", f"{_project(repo)}/deployments",
                                     body=body, may_retry=before_it_reached_the_host)
        shape = Shape(self.host, "deployment")
        return shape.ident(shape.obj(data))

    async def set_deployment_status(self, repo: str, deployment_id: str, *,
                                    state: DeploymentState, description: str,
                                    environment_url: str | None = None,
                                    log_url: str | None = None) -> None:
        """PUT the status (GitLab keeps no description or URLs on a deployment)."""
        await self._http.call("deployment_status", "PUT",
                              f"{_project(repo)}/deployments/{_seg(deployment_id)}",
                              body={"status": DEPLOYMENT_STATES[state]})

    async def checks(self, repo: str, sha: str, *, ignore: Collection[str] = ()) -> Checks:
        """The latest pipeline of the commit (none: green). Statuses posted through the API
        (relay's own among them) join that pipeline and sway its status, so with `ignore`
        the pipeline's jobs and statuses are read one by one instead, leaving those out."""
        shape = Shape(self.host, "checks")
        pipelines = shape.array(await self._http.json(
            "checks", "GET", f"{_project(repo)}/pipelines",
            params={"sha": sha, "order_by": "id", "sort": "desc", "per_page": "1"}),
            "answer")
        if not pipelines:
            return summarise(())
        if ignore:
            return summarise(await self._jobs(repo, sha), ignore=ignore)
        latest = shape.obj(pipelines[0], "pipeline")
        name = f"pipeline {shape.ident(latest)}"
        return summarise([(name, pipeline_verdict(shape.text(latest, "status", "pipeline")))])

    async def _jobs(self, repo: str, sha: str) -> list[tuple[str, ChecksState]]:
        """GET .../commits/{sha}/statuses: CI jobs and posted statuses, latest per name."""
        shape = Shape(self.host, "checks")
        data = shape.array(await self._http.json(
            "checks", "GET", f"{_project(repo)}/repository/commits/{_seg(sha)}/statuses",
            params={"per_page": "100"}), "answer")
        found: dict[str, ChecksState] = {}
        for item in data:  # newest first: keep the first of each name
            entry = shape.obj(item, "status")
            found.setdefault(shape.text(entry, "name", "status"), job_verdict(
                shape.text(entry, "status", "status"),
                allow_failure=entry.get("allow_failure") is True))
        return list(found.items())

    async def branch_head(self, repo: str, branch: str, *,
                          etag: str | None = None) -> Head | NotModified:
        headers = {"If-None-Match": etag} if etag else None
        reply = await self._http.call(
            "branch", "GET", f"{_project(repo)}/repository/branches/{_seg(branch)}",
            headers=headers, not_modified_ok=etag is not None)
        if reply.status == 304 and etag is not None:
            return NotModified(etag)
        shape = Shape(self.host, "branch")
        data = shape.obj(decode_json(self.host, "branch", reply))
        commit = shape.obj(data.get("commit"), "answer.commit")
        return Head(shape.text(commit, "id", "answer.commit"), reply.headers.get("ETag"))

    async def compare(self, repo: str, base: str, head: str) -> Comparison:
        """Changed paths from the merge base of `base` and `head` to `head`; incomplete when
        GitLab timed out or cut the diff list (`compare_timeout`, `overflow`)."""
        shape = Shape(self.host, "compare")
        data = shape.obj(await self._http.json(
            "compare", "GET", f"{_project(repo)}/repository/compare",
            params={"from": base, "to": head}))
        paths: set[str] = set()
        for item in shape.array(data.get("diffs", []), "answer.diffs"):
            diff = shape.obj(item, "diff")
            paths.update(p for p in (diff.get("old_path"), diff.get("new_path"))
                         if isinstance(p, str))
        cut = bool(data.get("compare_timeout")) or bool(data.get("overflow"))
        return Comparison(tuple(sorted(paths)), complete=not cut)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _project(repo: str) -> str:
    """`/projects/group%2Fsub%2Fproject` (GitLab takes a URL-encoded path as the id)."""
    if not repo or repo.startswith("/") or repo.endswith("/") or "/" not in repo:
        raise ValueError(f"repository {repo!r} is not 'group/project'")
    return f"/projects/{_seg(repo)}"
