"""The combined fake: the three hosts as sub-apps of one aiohttp app.

Layout of `create_fake_git_app(...)` (mount it at `PREFIX`, `/fake-git`, so that the
records are at `/fake-git/{source}/statuses` on relay's port, docs/githost.md):
    /github/...           the GitHub API         api.url: ORIGIN/fake-git/github
    /gitlab/api/v4/...    the GitLab API         api.url: ORIGIN/fake-git/gitlab/api/v4
    /gitea/api/v1/...     the Gitea API          api.url: ORIGIN/fake-git/gitea/api/v1
    /{source}/statuses    commit statuses received, in order (JSON list, no token)
    /{source}/deployments deployments received, each with its statuses (no token)
    /{source}/faults      GET, POST {"spec"}, DELETE: the faults in force (token)
    /{source}/commits     POST {"repo", "sha", "parent", "files", "branch"}: set up (token)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiohttp import web

from relay.events import Source
from relay.fakegit.gitea import create_fake_gitea_app
from relay.fakegit.github import create_fake_github_app
from relay.fakegit.gitlab import create_fake_gitlab_app
from relay.fakegit.state import FakeHost

PREFIX = "/fake-git"
FAKE_HOSTS = web.AppKey("fake_git_hosts", dict[Source, FakeHost])

HOST_APPS: Mapping[Source, Callable[[FakeHost, str], web.Application]] = {
    Source.GITHUB: create_fake_github_app,
    Source.GITLAB: create_fake_gitlab_app,
    Source.GITEA: create_fake_gitea_app,
}
API_PATHS: Mapping[Source, str] = {
    Source.GITHUB: "/github",
    Source.GITLAB: "/gitlab/api/v4",
    Source.GITEA: "/gitea/api/v1",
}


def create_fake_git_app(tokens: Mapping[Source, str], *,
                        hosts: Mapping[Source, FakeHost] | None = None,
                        lenient: bool = False) -> web.Application:
    """One app serving a fake of each host in `tokens` (each accepting its own token).

    `hosts`: the states to serve; a host not given is built empty, `lenient` as asked (see
    `FakeHost`: True for relay's `api.url: embedded`, where nothing is set up). The live
    states are `app[FAKE_HOSTS]`. ValueError for an empty token.
    """
    app = web.Application()
    served: dict[Source, FakeHost] = {}
    for source, token in tokens.items():
        host = (hosts or {}).get(source) or FakeHost(source.value, lenient=lenient)
        app.add_subapp(f"/{source.value}", HOST_APPS[source](host, token))
        served[source] = host
    app[FAKE_HOSTS] = served
    return app


def api_url(origin: str, source: Source, *, prefix: str = PREFIX) -> str:
    """The `api.url` of a fake host served at `origin` (e.g. `http://127.0.0.1:8080`)."""
    return origin.rstrip("/") + prefix + API_PATHS[source]
