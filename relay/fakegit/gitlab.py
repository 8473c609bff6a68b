"""The fake GitLab REST API v4: commit statuses, deployments, pipelines, branches, compare.

Validates as GitLab does (https://docs.gitlab.com/ee/api/): commit states `pending running
success failed canceled skipped` (400 otherwise), descriptions up to 255 characters;
deployments need `environment`, `sha`, `ref` (an existing branch or tag), `tag` and a
`status` of `running success failed canceled`; an unknown project, commit or deployment is
a 404 (`404 Project Not Found`, ...), a bad token a 401. A status posted on a commit without
a pipeline makes an `external` pipeline, as GitLab does, whose status follows its statuses.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from relay.fakegit.common import (
    FAKE_HOST,
    RATE_LIMIT_RESET_S,
    Dialect,
    bearer,
    host_app,
    int_query,
    json_body,
    optional_text,
)
from relay.fakegit.state import (
    DeploymentRecord,
    DeploymentStatusRecord,
    FakeError,
    FakeHost,
    Job,
    Pipeline,
)
from relay.simulator.faults import Fault

STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
DEPLOYMENT_STATUSES = ("running", "success", "failed", "canceled")
DESCRIPTION_MAX = 255

routes = web.RouteTableDef()
PROJECT = "/api/v4/projects/{project}"


def _error_body(exc: FakeError) -> dict[str, Any]:
    if exc.field_name:
        return {"message": {exc.field_name: [exc.message]}}
    return {"message": exc.message}


def _rate_limit(host: FakeHost, fault: Fault) -> web.Response:
    wait = fault.retry_after if fault.retry_after is not None else RATE_LIMIT_RESET_S
    reset = int(host.clock()) + wait
    return web.Response(status=429, text="Retry later\n", headers={
        "Retry-After": str(wait), "RateLimit-Limit": "600", "RateLimit-Observed": "601",
        "RateLimit-Remaining": "0", "RateLimit-Reset": str(reset)})


def _token(request: web.Request) -> str | None:
    return request.headers.get("PRIVATE-TOKEN") or bearer(request, "Bearer")


DIALECT = Dialect("gitlab", _error_body, _token, _rate_limit, "401 Unauthorized")


def _project(request: web.Request) -> tuple[FakeHost, str]:
    host = request.app[FAKE_HOST]
    repo = request.match_info["project"]
    try:
        host.repo(repo)
    except FakeError:
        raise FakeError(404, "404 Project Not Found") from None
    return host, repo


def _commit_sha(host: FakeHost, repo: str, ref: str) -> str:
    try:
        return host.commit(repo, ref).sha
    except FakeError:
        raise FakeError(404, "404 Commit Not Found") from None


@routes.post(PROJECT + "/statuses/{sha}", name="commit_status")
async def create_status(request: web.Request) -> web.Response:
    host, repo = _project(request)
    sha = _commit_sha(host, repo, request.match_info["sha"])
    data = await json_body(request)
    state = data.get("state")
    if state not in STATES:
        raise FakeError(400, "state does not have a valid value")
    description = optional_text(data, "description", default="") or ""
    if len(description) > DESCRIPTION_MAX:
        raise FakeError(400, "is too long (maximum is 255 characters)",
                        field_name="description")
    name = optional_text(data, "name", default=None) or \
        optional_text(data, "context", default="default") or "default"
    record = host.record_status(repo, sha, str(state), name, description,
                                optional_text(data, "target_url"))
    _follow_external_pipeline(host, repo, sha, data.get("ref"))
    return web.json_response({"id": record.seq, "sha": sha, "status": state, "name": name,
                              "description": description, "target_url": record.target_url},
                             status=201)


def _follow_external_pipeline(host: FakeHost, repo: str, sha: str, ref: Any) -> None:
    """A posted status joins the commit's latest pipeline, or makes an external one."""
    if not host.pipelines_of(repo, sha):
        host.add_pipeline(repo, sha, "pending", ref=str(ref or "main"), source="external")


def _jobs(host: FakeHost, repo: str, sha: str) -> list[Job]:
    """The latest job or posted status of each name on the commit, newest first (posted
    statuses belong to the latest pipeline, as on GitLab)."""
    latest: dict[str, Job] = {}
    for record in host.statuses_of(repo, sha):
        latest.setdefault(record.context, Job(record.context, record.state))
    for pipeline in reversed(host.pipelines_of(repo, sha)):
        for job in reversed(pipeline.jobs):
            latest.setdefault(job.name, job)
    return list(latest.values())


def _pipeline_status(host: FakeHost, pipeline: Pipeline) -> str:
    """GitLab's composite status, simplified: running, then pending, created, failed,
    canceled, manual (a blocking manual job), else success; a job allowed to fail never
    fails the pipeline."""
    newest = host.pipelines_of(pipeline.repo, pipeline.sha)[-1]
    jobs = list(pipeline.jobs)
    if pipeline is newest:
        posted = {j.name for j in jobs}
        jobs += [j for j in _jobs(host, pipeline.repo, pipeline.sha) if j.name not in posted]
    if not jobs:
        return pipeline.status
    blocking = {j.status for j in jobs if not j.allow_failure or j.status in ACTIVE}
    for status in ("running", "pending", "created", "failed", "canceled", "manual"):
        if status in blocking:
            return status
    return "success"


ACTIVE = frozenset({"running", "pending", "created"})


@routes.post(PROJECT + "/deployments", name="deployment")
async def create_deployment(request: web.Request) -> web.Response:
    host, repo = _project(request)
    data = await json_body(request)
    for key in ("environment", "sha", "ref", "tag", "status"):
        if key not in data:
            raise FakeError(400, f"{key} is missing")
    status = data["status"]
    if status not in DEPLOYMENT_STATUSES:
        raise FakeError(400, "status does not have a valid value")
    if not isinstance(data["tag"], bool):
        raise FakeError(400, "tag is invalid")
    ref, environment = data["ref"], data["environment"]
    if not isinstance(environment, str) or not environment:
        raise FakeError(400, "environment is empty")
    found = host.repos[repo]
    sha = _commit_sha(host, repo, str(data["sha"]))
    if host.lenient and not data["tag"] and isinstance(ref, str) and ref:
        found.branches.setdefault(ref, sha)  # the push relay deploys made the branch
    if ref not in (found.tags if data["tag"] else found.branches):
        raise FakeError(400, "The branch or tag does not exist", field_name="ref")
    record = DeploymentRecord(host.next_seq(), repo, sha, str(ref), environment, "")
    record.statuses.append(DeploymentStatusRecord(host.next_seq(), str(status), ""))
    host.deployments.append(record)
    return web.json_response(_deployment_view(record), status=201)


@routes.put(PROJECT + "/deployments/{id}", name="deployment_status")
async def update_deployment(request: web.Request) -> web.Response:
    host, repo = _project(request)
    try:
        record = host.deployment(repo, request.match_info["id"])
    except FakeError:
        raise FakeError(404, "404 Not found") from None
    data = await json_body(request)
    status = data.get("status")
    if status not in DEPLOYMENT_STATUSES:
        raise FakeError(400, "status does not have a valid value")
    record.statuses.append(DeploymentStatusRecord(host.next_seq(), str(status), ""))
    return web.json_response(_deployment_view(record))


def _deployment_view(record: DeploymentRecord) -> dict[str, Any]:
    return {"id": record.id, "sha": record.sha, "ref": record.ref, "status": record.state,
            "environment": {"name": record.environment}}


@routes.get(PROJECT + "/pipelines", name="checks.pipelines")
async def pipelines(request: web.Request) -> web.Response:
    host, repo = _project(request)
    sha = request.query.get("sha")
    found = [p for p in host.pipelines if p.repo == repo and (sha is None or p.sha == sha)]
    found.sort(key=lambda p: p.id, reverse=request.query.get("sort", "desc") == "desc")
    per_page = int_query(request, "per_page", 20)
    return web.json_response([{"id": p.id, "sha": p.sha, "ref": p.ref,
                               "status": _pipeline_status(host, p), "source": p.source}
                              for p in found[:per_page]])


@routes.get(PROJECT + "/repository/commits/{sha}/statuses", name="checks.statuses")
async def commit_statuses(request: web.Request) -> web.Response:
    """CI jobs and posted statuses alike, the latest of each name (GitLab's `all=false`)."""
    host, repo = _project(request)
    sha = _commit_sha(host, repo, request.match_info["sha"])
    return web.json_response([{"sha": sha, "name": j.name, "status": j.status,
                               "allow_failure": j.allow_failure}
                              for j in _jobs(host, repo, sha)])


@routes.get(PROJECT + "/repository/branches/{branch}", name="branch")
async def branch(request: web.Request) -> web.Response:
    host, repo = _project(request)
    name = request.match_info["branch"]
    sha = host.repos[repo].branches.get(name)
    if sha is None:
        raise FakeError(404, "404 Branch Not Found")
    etag = host.etag(repo, name, sha)
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers={"ETag": etag})
    return web.json_response({"name": name, "commit": {"id": sha}}, headers={"ETag": etag})


@routes.get(PROJECT + "/repository/compare", name="compare")
async def compare(request: web.Request) -> web.Response:
    host, repo = _project(request)
    base, head = request.query.get("from"), request.query.get("to")
    if not base or not head:
        raise FakeError(400, "from and to are required")
    commits = host.changed_files(repo, base, head)
    files = sorted({f for c in commits for f in c.files})
    return web.json_response({
        "commits": [{"id": c.sha} for c in commits], "compare_timeout": False,
        "diffs": [{"old_path": f, "new_path": f} for f in files]})


def create_fake_gitlab_app(host: FakeHost, token: str) -> web.Application:
    """The fake GitLab API under `/api/v4` of the app (mount under any prefix)."""
    return host_app(host, token, DIALECT, routes)
