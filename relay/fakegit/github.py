"""The fake GitHub REST API: statuses, deployments, checks, branches, compare.

Validates as GitHub does (https://docs.github.com/en/rest): commit states `error failure
pending success` and descriptions up to 140 characters (422 otherwise); at most 1,000
statuses per sha and context (422); deployment states `error failure inactive in_progress
queued pending success`; a status on an unknown sha is a 422 `No commit found for SHA`,
every other unknown repository, commit, branch or deployment a 404; a bad token a 401
`Bad credentials`. Branch reads carry an ETag and answer 304 to a matching If-None-Match
(which does not count against the rate limit).
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
    MAX_STATUSES_PER_CONTEXT,
    DeploymentRecord,
    DeploymentStatusRecord,
    FakeError,
    FakeHost,
)
from relay.simulator.faults import Fault

STATES = ("error", "failure", "pending", "success")
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending",
                     "success")
DESCRIPTION_MAX = 140
COMPARE_FILES_MAX = 300
DOCS = "https://docs.github.com/rest"

routes = web.RouteTableDef()
REPO = "/repos/{owner}/{name}"


def _error_body(exc: FakeError) -> dict[str, Any]:
    body: dict[str, Any] = {"message": exc.message, "documentation_url": DOCS}
    if exc.status == 422 and exc.field_name:
        body = {"message": "Validation Failed", "documentation_url": DOCS,
                "errors": [{"resource": "Status", "field": exc.field_name, "code": "custom",
                            "message": exc.message}]}
    return body


def _rate_limit(host: FakeHost, fault: Fault) -> web.Response:
    status = fault.status or 403
    if fault.retry_after is not None:  # the secondary rate limit
        return web.json_response(
            {"message": "You have exceeded a secondary rate limit.", "documentation_url": DOCS},
            status=status, headers={"Retry-After": str(fault.retry_after)})
    reset = int(host.clock()) + RATE_LIMIT_RESET_S
    return web.json_response(
        {"message": "API rate limit exceeded.", "documentation_url": DOCS}, status=status,
        headers={"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0",
                 "X-RateLimit-Used": "5000", "X-RateLimit-Reset": str(reset)})


DIALECT = Dialect("github", _error_body, lambda r: bearer(r, "Bearer", "token"), _rate_limit,
                  "Bad credentials")


def _host(request: web.Request) -> tuple[FakeHost, str]:
    host = request.app[FAKE_HOST]
    repo = f"{request.match_info['owner']}/{request.match_info['name']}"
    host.repo(repo)
    return host, repo


@routes.post(REPO + "/statuses/{sha}", name="commit_status")
async def create_status(request: web.Request) -> web.Response:
    host, repo = _host(request)
    sha = request.match_info["sha"]
    data = await json_body(request)
    try:
        commit = host.commit(repo, sha)
    except FakeError:
        raise FakeError(422, f"No commit found for SHA: {sha}") from None
    state = data.get("state")
    if state not in STATES:
        raise FakeError(422, "state is not included in the list", field_name="state")
    description = optional_text(data, "description", default="") or ""
    if len(description) > DESCRIPTION_MAX:
        raise FakeError(422, "description is too long (maximum is 140 characters)",
                        field_name="description")
    context = optional_text(data, "context", default="default") or "default"
    target_url = optional_text(data, "target_url")
    same = sum(1 for s in host.statuses if s.repo == repo and s.sha == commit.sha
               and s.context == context)
    if same >= MAX_STATUSES_PER_CONTEXT:
        raise FakeError(422, "This SHA and context has reached the maximum number of statuses.",
                        field_name="context")
    record = host.record_status(repo, commit.sha, str(state), context, description, target_url)
    return web.json_response(_status_view(record.seq, str(state), context, description,
                                          target_url), status=201)


def _status_view(seq: int, state: str, context: str, description: str,
                 target_url: str | None) -> dict[str, Any]:
    return {"id": seq, "state": state, "context": context, "description": description,
            "target_url": target_url}


@routes.post(REPO + "/deployments", name="deployment")
async def create_deployment(request: web.Request) -> web.Response:
    host, repo = _host(request)
    data = await json_body(request)
    ref = data.get("ref")
    if not isinstance(ref, str) or not ref:
        raise FakeError(422, "ref is missing", field_name="ref")
    try:
        commit = host.commit(repo, ref)
    except FakeError:
        raise FakeError(422, f"No ref found for: {ref}", field_name="ref") from None
    environment = optional_text(data, "environment", default="production") or "production"
    contexts = data.get("required_contexts")
    if contexts is not None and not isinstance(contexts, list):
        raise FakeError(422, "required_contexts is not an array", field_name="required_contexts")
    # Without `required_contexts: []`, GitHub requires every context to be green (409).
    required = {s.context for s in host.statuses_of(repo, commit.sha)} if contexts is None \
        else set(contexts)
    green = {s.context for s in host.statuses_of(repo, commit.sha) if s.state == "success"}
    if required - green:
        raise FakeError(409, f"Conflict: Commit status checks failed for {ref}.")
    if not isinstance(data.get("auto_merge", True), bool):
        raise FakeError(422, "auto_merge is not a boolean", field_name="auto_merge")
    record = DeploymentRecord(host.next_seq(), repo, commit.sha, ref, environment,
                              optional_text(data, "description", default="") or "")
    host.deployments.append(record)
    return web.json_response({"id": record.id, "sha": commit.sha, "ref": ref,
                              "environment": environment, "description": record.description},
                             status=201)


@routes.post(REPO + "/deployments/{id}/statuses", name="deployment_status")
async def create_deployment_status(request: web.Request) -> web.Response:
    host, repo = _host(request)
    record = host.deployment(repo, request.match_info["id"])
    data = await json_body(request)
    state = data.get("state")
    if state not in DEPLOYMENT_STATES:
        raise FakeError(422, "state is not included in the list", field_name="state")
    description = optional_text(data, "description", default="") or ""
    if len(description) > DESCRIPTION_MAX:
        raise FakeError(422, "description is too long (maximum is 140 characters)",
                        field_name="description")
    status = DeploymentStatusRecord(host.next_seq(), str(state), description,
                                    optional_text(data, "environment_url"),
                                    optional_text(data, "log_url"))
    record.statuses.append(status)
    return web.json_response({"id": status.seq, "state": state, "description": description},
                             status=201)


def _page(request: web.Request, items: list[Any]) -> list[Any]:
    per_page = min(100, int_query(request, "per_page", 30))
    page = int_query(request, "page", 1)
    return items[(page - 1) * per_page: page * per_page]


@routes.get(REPO + "/commits/{ref}/status", name="checks.status")
async def combined_status(request: web.Request) -> web.Response:
    host, repo = _host(request)
    commit = host.commit(repo, request.match_info["ref"])
    latest = host.statuses_of(repo, commit.sha)
    states = {s.state for s in latest}
    combined = "failure" if states & {"failure", "error"} else \
        "pending" if "pending" in states or not latest else "success"
    return web.json_response({
        "state": combined, "sha": commit.sha, "total_count": len(latest),
        "statuses": [_status_view(s.seq, s.state, s.context, s.description, s.target_url)
                     for s in _page(request, latest)]})


@routes.get(REPO + "/commits/{ref}/check-runs", name="checks.runs")
async def check_runs(request: web.Request) -> web.Response:
    host, repo = _host(request)
    commit = host.commit(repo, request.match_info["ref"])
    runs = host.repos[repo].check_runs.get(commit.sha, [])
    return web.json_response({
        "total_count": len(runs),
        "check_runs": [{"name": r.name, "status": r.status, "conclusion": r.conclusion,
                        "head_sha": commit.sha} for r in _page(request, runs)]})


@routes.get(REPO + "/branches/{branch}", name="branch")
async def branch(request: web.Request) -> web.Response:
    host, repo = _host(request)
    name = request.match_info["branch"]
    sha = host.repos[repo].branches.get(name)
    if sha is None:
        raise FakeError(404, "Branch not found")
    etag = host.etag(repo, name, sha)
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers={"ETag": etag})
    return web.json_response({"name": name, "commit": {"sha": sha}},
                             headers={"ETag": etag})


@routes.get(REPO + "/compare/{base}...{head}", name="compare")
async def compare(request: web.Request) -> web.Response:
    host, repo = _host(request)
    commits = host.changed_files(repo, request.match_info["base"], request.match_info["head"])
    files = sorted({f for c in commits for f in c.files})
    return web.json_response({
        "status": "ahead", "ahead_by": len(commits), "total_commits": len(commits),
        "files": [{"filename": f, "status": "modified"} for f in files[:COMPARE_FILES_MAX]]})


def create_fake_github_app(host: FakeHost, token: str) -> web.Application:
    """The fake GitHub API at the app's root (mount under any prefix)."""
    return host_app(host, token, DIALECT, routes)


