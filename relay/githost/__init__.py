"""Git-host API clients (GitHub, GitLab, Gitea/Forgejo) behind one small interface.

`client_for(source, session, base_url, token)` builds the client of a source; each client
implements `GitHost` (relay.githost.base) and raises only `GitHostError` subclasses
(relay.githost.errors). Retries use relay's one `RetryPolicy` (relay.cluster.retry).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import aiohttp

from relay.events import Source
from relay.githost.base import (
    DESCRIPTION_MAX,
    Checks,
    ChecksState,
    CommitState,
    Comparison,
    DeploymentState,
    GitHost,
    Head,
    NotModified,
    clip_description,
)
from relay.githost.errors import (
    BadResponse,
    ClientError,
    Forbidden,
    GitHostError,
    NotFound,
    RateLimited,
    Rejected,
    ServerError,
    Unauthorized,
    Unavailable,
    Unsupported,
)
from relay.githost.gitea import GiteaClient
from relay.githost.github import GitHubClient
from relay.githost.gitlab import GitLabClient
from relay.githost.retry import OnRetry, RetryPolicy
from relay.secret import Secret

CLIENTS: Mapping[Source, type[GitHubClient | GitLabClient | GiteaClient]] = {
    Source.GITHUB: GitHubClient,
    Source.GITLAB: GitLabClient,
    Source.GITEA: GiteaClient,
}


def client_for(source: Source, session: aiohttp.ClientSession, base_url: str, token: Secret,
               *, request_timeout_s: float = 10.0, retry: RetryPolicy | None = None,
               on_retry: OnRetry | None = None,
               clock: Callable[[], float] = time.time) -> GitHost:
    """The client of `source`'s host at `base_url` (the source's `api.url`)."""
    return CLIENTS[source](session, base_url, token, request_timeout_s=request_timeout_s,
                           retry=retry, on_retry=on_retry, clock=clock)


__all__ = [
    "CLIENTS", "DESCRIPTION_MAX", "BadResponse", "Checks", "ChecksState", "ClientError",
    "CommitState", "Comparison", "DeploymentState", "Forbidden", "GitHost", "GitHostError",
    "GitHubClient", "GitLabClient", "GiteaClient", "Head", "NotFound", "NotModified",
    "OnRetry", "RateLimited", "Rejected", "RetryPolicy", "ServerError", "Unauthorized",
    "Unavailable", "Unsupported", "clip_description", "client_for",
]
