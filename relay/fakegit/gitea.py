"""The fake Gitea REST API v1: commit statuses, combined status, branches, compare.

Validates as Gitea does (https://docs.gitea.com/api/): commit states `pending success error
failure warning` (422 otherwise); an unknown repository, commit or branch is a 404, a bad
token a 401. Gitea has no deployments API, so neither has the fake.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from relay.fakegit.common import (
    FAKE_HOST,
    Dialect,
    bearer,
    host_app,
    int_query,
    json_body,
    optional_text,
)
from relay.fakegit.state import FakeError, FakeHost
from relay.simulator.faults import Fault

STATES = ("pending", "success", "error", "failure", "warning")

routes = web.RouteTableDef()
REPO = "/api/v1/repos/{owner}/{name}"


def _error_body(exc: FakeError) -> dict[str, Any]:
    return {"message": exc.message, "url": "https://docs.gitea.com/api/"}


def _rate_limit(host: FakeHost, fault: Fault) -> web.Response:
    wait = fault.retry_after if fault.retry_after is not None else 60
    return web.json_response({"message": "rate limit exceeded"}, status=429,
                             headers={"Retry-After": str(wait)})


DIALECT = Dialect("gitea", _error_body, lambda r: bearer(r, "token", "Bearer"), _rate_limit,
                  "token is required")


def _repo(request: web.Request) -> tuple[FakeHost, str]:
    host = request.app[FAKE_HOST]
    repo = f"{request.match_info['owner']}/{request.match_info['name']}"
    try:
        host.repo(repo)
    except FakeError:
        raise FakeError(404, "The target couldn't be found.") from None
    return host, repo


def _view(seq: int, state: str, context: str, description: str,
          target_url: str | None) -> dict[str, Any]:
    return {"id": seq, "status": state, "context": context, "description": description,
            "target_url": target_url}


@routes.post(REPO + "/statuses/{sha}", name="commit_status")
async def create_status(request: web.Request) -> web.Response:
    host, repo = _repo(request)
    sha = host.commit(repo, request.match_info["sha"]).sha
    data = await json_body(request)
    state = data.get("state")
    if state not in STATES:
        raise FakeError(422, f"[State]: state {state!r} is not one of {', '.join(STATES)}")
    description = optional_text(data, "description", default="") or ""
    context = optional_text(data, "context", default="default") or "default"
    record = host.record_status(repo, sha, str(state), context, description,
                                optional_text(data, "target_url"))
    return web.json_response(_view(record.seq, str(state), context, description,
                                   record.target_url), status=201)


@routes.get(REPO + "/commits/{ref}/status", name="checks")
async def combined_status(request: web.Request) -> web.Response:
    host, repo = _repo(request)
    commit = host.commit(repo, request.match_info["ref"])
    latest = host.statuses_of(repo, commit.sha)
    limit, page = int_query(request, "limit", 50), int_query(request, "page", 1)
    shown = latest[(page - 1) * limit: page * limit]
    states = {s.state for s in latest}
    combined = "failure" if states & {"failure", "error"} else \
        "pending" if "pending" in states else "success" if latest else ""
    return web.json_response({
        "state": combined, "sha": commit.sha, "total_count": len(latest),
        "statuses": [_view(s.seq, s.state, s.context, s.description, s.target_url)
                     for s in shown]})


@routes.get(REPO + "/branches/{branch}", name="branch")
async def branch(request: web.Request) -> web.Response:
    host, repo = _repo(request)
    name = request.match_info["branch"]
    sha = host.repos[repo].branches.get(name)
    if sha is None:
        raise FakeError(404, f"branch does not exist [name: {name}]")
    etag = host.etag(repo, name, sha)
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers={"ETag": etag})
    return web.json_response({"name": name, "commit": {"id": sha}}, headers={"ETag": etag})


@routes.get(REPO + "/compare/{base}...{head}", name="compare")
async def compare(request: web.Request) -> web.Response:
    host, repo = _repo(request)
    commits = host.changed_files(repo, request.match_info["base"], request.match_info["head"])
    return web.json_response({
        "total_commits": len(commits),
        "commits": [{"sha": c.sha, "files": [{"filename": f, "status": "modified"}
                                              for f in c.files]} for c in commits]})


def create_fake_gitea_app(host: FakeHost, token: str) -> web.Application:
    """The fake Gitea API under `/api/v1` of the app (mount under any prefix)."""
    return host_app(host, token, DIALECT, routes)
