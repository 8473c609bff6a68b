"""The async client of the cluster API (docs/cluster-api.md §1-8) plus the web hook POST.

Every call: `Authorization: Token <token>`, a timeout, one metric sample per attempt, and the
retry policy passed in. Create is retried only when it surely did not reach the server (see
`retry.before_it_reached_the_server`); delete treats a 404 after an ambiguous failed attempt
as done.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import structlog

from relay import __version__
from relay.cluster.errors import ClusterApiError, NotFound, ServerError, Unavailable
from relay.cluster.models import Cluster, ClusterPage, Container, Created, ImageList
from relay.cluster.parsing import (
    parse_cluster,
    parse_containers,
    parse_created,
    parse_images,
    parse_page,
)
from relay.cluster.retry import (
    OnRetry,
    RetryPolicy,
    RetryPredicate,
    always,
    before_it_reached_the_server,
)
from relay.cluster.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    Answer,
    Exchange,
    exchange,
    json_error,
    request_timeout,
)
from relay.metrics import Metrics
from relay.secret import Secret

log = structlog.get_logger("relay.cluster")

# A caller that wants the retries of its own calls counted passes a tally (`retries=`): the
# worker passes one per deployment, endpoint -> retries.
RetryTally = Counter[str]

MAX_PAGE = 30  # docs/cluster-api.md §4: 0 < limit <= 30
_USER_AGENT = f"relay/{__version__}"
# Headers a hook POST never forwards: relay's credentials and hop-by-hop / framing headers.
_HOOK_DROP = frozenset({"authorization", "host", "content-length", "transfer-encoding",
                        "connection", "keep-alive", "upgrade", "te", "trailer"})


class ClusterClient:
    """Talks to one cluster API at `base_url` (which may carry a path prefix)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: Secret,
        *,
        request_timeout_s: float = 10.0,
        watch_timeout_s: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - a frozen value
        metrics: Metrics | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self._session = session
        self._base = base_url.rstrip("/")
        self._token = token
        self._request_timeout_s = request_timeout_s
        self._watch_timeout_s = watch_timeout_s
        self._retry = retry
        self._metrics = metrics
        self._max_response_bytes = max_response_bytes

    def __repr__(self) -> str:
        return f"ClusterClient(base_url={self._base!r})"

    @property
    def base_url(self) -> str:
        return self._base

    # --- the API operations ------------------------------------------------------------

    async def images(self) -> ImageList:
        """Seed section 1."""
        return parse_images(await self._json("images", "GET", "/api/v1/apps/images"))

    async def create(self, spec: Mapping[str, Any]) -> Created:
        """Seed section 2; not retried once the request may have reached the server."""
        data = await self._json("apps.create", "POST", "/api/v1/apps", body=spec,
                                may_retry=before_it_reached_the_server)
        return parse_created(data)

    async def update(self, cluster_id: int, patch: Mapping[str, Any], *,
                     retries: RetryTally | None = None) -> None:
        """Seed section 3 (PUT sets fields: idempotent, so retried)."""
        await self._call("apps.update", "PUT", f"/api/v1/apps/{_id(cluster_id)}", body=patch,
                         retries=retries)

    async def list(self, *, limit: int = 20, offset: int = 0) -> ClusterPage:
        """Seed section 4: one page of at most 30."""
        if not 0 < limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1..{MAX_PAGE}, got {limit}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        params = {"limit": str(limit), "offset": str(offset)}
        return parse_page(await self._json("apps.list", "GET", "/api/v1/apps", params=params))

    async def iter_all(self, *, page_size: int = MAX_PAGE) -> AsyncIterator[Cluster]:
        """Every cluster, page by page, until `total` is reached or a page comes back empty."""
        offset = 0
        seen: set[int] = set()
        while True:
            page = await self.list(limit=page_size, offset=offset)
            fresh = [c for c in page.clusters if c.id not in seen]
            for cluster in fresh:
                seen.add(cluster.id)
                yield cluster
            offset += len(page.clusters)
            # A page of only repeats means the list shifted under us or the API ignores
            # offset: stop rather than loop forever.
            if not fresh or offset >= page.total:
                return

    async def get(self, cluster_id: int, *, retries: RetryTally | None = None) -> Cluster:
        """Seed section 5. A malformed answer raises BadResponse (not retried here: the
        worker retries it with its own backoff, before the trigger as during the follow)."""
        return parse_cluster(await self._json("apps.get", "GET", f"/api/v1/apps/{_id(cluster_id)}",
                                              retries=retries))

    async def delete(self, cluster_id: int) -> None:
        """Seed section 6; a 404 after an attempt that may have deleted it counts as done."""
        await self._call("apps.delete", "DELETE", f"/api/v1/apps/{_id(cluster_id)}",
                         gone_is_done=True)

    async def resize(self, cluster_id: int, replicas: int) -> None:
        """Seed section 7."""
        if _id(replicas) < 0:
            raise ValueError(f"replicas must be >= 0, got {replicas}")
        path = f"/api/v1/apps/{_id(cluster_id)}/replications/{_id(replicas)}/actions/resize"
        await self._call("apps.resize", "PUT", path)

    async def watch(self, cluster_id: int, *, timeout_s: float | None = None,
                    retries: RetryTally | None = None) -> tuple[Container, ...]:
        """Seed section 8: long-poll; returns the containers on a change or on timeout."""
        held = self._watch_timeout_s if timeout_s is None else timeout_s
        params = None if timeout_s is None else {"timeout": f"{timeout_s:g}"}
        timeout = request_timeout(held + self._request_timeout_s,
                                  connect_s=self._request_timeout_s)
        data = await self._json("watch", "GET", f"/api/v1/watch/apps/{_id(cluster_id)}",
                                params=params, client_timeout=timeout, retries=retries)
        return parse_containers(data)

    async def post_hook(self, url: str, body: bytes, headers: Mapping[str, str], *,
                        retries: RetryTally | None = None) -> int:
        """POST `body` to a web_hook_url with the given headers only (no token, no redirects).

        Retried only when it surely did not reach the platform, as create is: a second POST
        would start a second build.
        """
        if not url.startswith(("http://", "https://")):
            raise ValueError("web hook URL must be an http(s) URL")
        sent = {k: v for k, v in headers.items() if k.lower() not in _HOOK_DROP}
        skip = () if any(k.lower() == "content-type" for k in sent) else ("Content-Type",)
        req = Exchange("hook", "POST", url, request_timeout(self._request_timeout_s),
                       headers=sent, data=body, skip_auto_headers=skip,
                       max_bytes=self._max_response_bytes)
        return (await self._send(req, before_it_reached_the_server, retries=retries)).status

    # --- plumbing ------------------------------------------------------------------------

    async def _json(self, endpoint: str, method: str, path: str, *,
                    body: Mapping[str, Any] | None = None,
                    params: Mapping[str, str] | None = None,
                    client_timeout: aiohttp.ClientTimeout | None = None,
                    may_retry: RetryPredicate = always,
                    retries: RetryTally | None = None) -> Any:
        answer = await self._call(endpoint, method, path, body=body, params=params,
                                  client_timeout=client_timeout, may_retry=may_retry,
                                  retries=retries)
        try:
            return json.loads(answer.body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise json_error(endpoint, answer.status, answer.body, exc) from exc

    async def _call(self, endpoint: str, method: str, path: str, *,
                    body: Mapping[str, Any] | None = None,
                    params: Mapping[str, str] | None = None,
                    client_timeout: aiohttp.ClientTimeout | None = None,
                    may_retry: RetryPredicate = always, gone_is_done: bool = False,
                    retries: RetryTally | None = None) -> Answer:
        headers = {"Authorization": f"Token {self._token.reveal()}",
                   "Accept": "application/json", "User-Agent": _USER_AGENT}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        req = Exchange(endpoint, method, self._base + path,
                       client_timeout or request_timeout(self._request_timeout_s),
                       headers=headers, params=params, data=data,
                       max_bytes=self._max_response_bytes)
        return await self._send(req, may_retry, gone_is_done=gone_is_done, retries=retries)

    async def _send(self, req: Exchange, may_retry: RetryPredicate, *,
                    gone_is_done: bool = False, retries: RetryTally | None = None) -> Answer:
        ambiguous = False  # an earlier attempt failed in a way that may have done the work

        async def attempt() -> Answer:
            nonlocal ambiguous
            try:
                return await exchange(self._session, req, self._metrics)
            except NotFound:
                if gone_is_done and ambiguous:
                    return Answer(404, b"")
                raise
            except (Unavailable, ServerError) as exc:
                ambiguous = ambiguous or not isinstance(exc, Unavailable) or exc.reached
                raise

        retrying = self._retry.retrying(may_retry, self._on_retry(req.endpoint, retries))
        return await retrying(attempt)

    def _on_retry(self, endpoint: str, tally: RetryTally | None) -> OnRetry:
        def on_retry(error: ClusterApiError, attempt: int, wait_s: float) -> None:
            if self._metrics is not None:
                self._metrics.api_retries.labels(endpoint=endpoint).inc()
            if tally is not None:
                tally[endpoint] += 1
            log.info("cluster_api_retry", endpoint=endpoint, attempt=attempt,
                     wait_s=round(wait_s, 3), error=str(error))
        return on_retry


def _id(value: int) -> int:
    """An id for a URL path: an int (bools and strings of other things rejected)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer id, got {type(value).__name__}")
    return value
