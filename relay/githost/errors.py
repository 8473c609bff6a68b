"""The one exception tree of the git-host API boundary (GitHub, GitLab, Gitea).

Every error names the host (`github`, `gitlab`, `gitea`), the operation (a fixed name such
as `commit_status`, never a URL), the HTTP `status` (None when no answer came) and the host's
own message. Nothing here ever holds the token: requests and their headers are not kept, and
messages come from the host's answer body, which never echoes the Authorization header.
"""

from __future__ import annotations

from typing import ClassVar, Literal

_MSG_LIMIT = 300  # characters of a host message kept on an error

UnavailableReason = Literal["refused", "connect-timeout", "timeout", "reset", "truncated"]


class GitHostError(Exception):
    """Base of every git-host API failure; `retriable` says whether a retry may help."""

    retriable: ClassVar[bool] = False

    def __init__(self, host: str, operation: str, msg: str, *,
                 status: int | None = None) -> None:
        self.host = host
        self.operation = operation
        self.status = status
        self.msg = _one_line(msg)
        super().__init__(host, operation, status, self.msg)

    def __str__(self) -> str:
        head = f"{self.host} {self.operation}"
        if self.status is not None:
            head += f": HTTP {self.status}"
        return f"{head}: {self.msg}" if self.msg else head

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ClientError(GitHostError):
    """A final 4xx answer (other than a rate limit): the request is wrong as made."""


class Unauthorized(ClientError):
    """401: the token is missing, wrong or expired."""


class Forbidden(ClientError):
    """403 that is not a rate limit: the token lacks the scope or the access."""


class NotFound(ClientError):
    """404: no such repository, commit, branch or deployment (or no access to see it)."""


class Rejected(ClientError):
    """400 or 422: the host refused the values (unknown state, too many statuses, ...)."""


class Unsupported(ClientError):
    """The host has no such API (Gitea has no deployments); never retried."""


class RateLimited(GitHostError):
    """429, or GitHub's 403 rate limit: wait `retry_after` seconds (None: not said).

    `retry_after` is the host's wait, capped at `ratelimit.MAX_WAIT_S`, from `Retry-After`,
    `X-RateLimit-Reset` (GitHub, Gitea) or `RateLimit-Reset` (GitLab).
    """

    retriable = True

    def __init__(self, host: str, operation: str, msg: str, *, status: int,
                 retry_after: float | None) -> None:
        super().__init__(host, operation, msg, status=status)
        self.retry_after = retry_after

    def __str__(self) -> str:
        wait = "" if self.retry_after is None else f" (retry after {self.retry_after:g} s)"
        return super().__str__() + wait


class ServerError(GitHostError):
    """A 5xx answer."""

    retriable = True


class Unavailable(GitHostError):
    """No (complete) answer: refused, reset, timed out, or a truncated body.

    `reached` is False only when the connection was never made, so the request cannot have
    been acted on (what makes a create safe to retry).
    """

    retriable = True

    def __init__(self, host: str, operation: str, msg: str, *, reason: UnavailableReason,
                 reached: bool) -> None:
        super().__init__(host, operation, msg)
        self.reason: UnavailableReason = reason
        self.reached = reached


class BadResponse(GitHostError):
    """A 2xx (or 3xx) answer that is not the documented shape."""


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MSG_LIMIT else flat[: _MSG_LIMIT - 3] + "..."


def class_for_status(status: int) -> type[ClientError | ServerError | BadResponse]:
    """The ladder for answers that are not rate limits: most specific status first."""
    if status == 401:
        return Unauthorized
    if status == 403:
        return Forbidden
    if status == 404:
        return NotFound
    if status in (400, 422):
        return Rejected
    if 400 <= status < 500:
        return ClientError
    if status >= 500:
        return ServerError
    return BadResponse
