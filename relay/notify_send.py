"""Sends one notification to one sink over HTTP and classifies the answer (an adapter).

The pure parts (what is sent, to which sinks) are relay.notify; this module only POSTs and
turns the answer into a `SendResult` the outbox sender acts on:

| answer | outcome | the sender |
|---|---|---|
| 2xx | `sent` | marks the message sent |
| 410 Gone | `stop` | stops the sink until relay restarts (counted `dropped`) |
| 429 | `retry` (`retry_after_s` from `Retry-After`, capped) | retries later |
| 5xx, timeout, refused, reset, invalid answer | `retry` | retries with backoff |
| 3xx (redirects are not followed), other 4xx | `failed` | gives the message up |

The sink's URL is a secret (it carries the webhook's token): it is handed to aiohttp inline
and never kept, logged, or put in a result; aiohttp's exceptions (whose texts and request
info name the URL) are turned into fixed words, and the sink's own answer is shown only
with the URL masked.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from relay import __version__
from relay.cluster.errors import parse_retry_after
from relay.notify import Notification, SinkSettings, render

USER_AGENT = f"relay/{__version__}"
ANSWER_LIMIT = 4096  # bytes of a sink's answer read (for its error message)
MESSAGE_LIMIT = 200  # characters of a sink's message kept on a result
MAX_RETRY_AFTER_S = 3600.0  # a longer Retry-After is capped to this


class SendOutcome(enum.StrEnum):
    """What became of one attempt (the table in the module doc)."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    STOP = "stop"

    @property
    def metric_outcome(self) -> str:
        """The `outcome` label of relay_notifications_total for this result."""
        return _METRIC_OUTCOMES[self]


_METRIC_OUTCOMES = {SendOutcome.SENT: "sent", SendOutcome.RETRY: "retried",
                    SendOutcome.FAILED: "failed", SendOutcome.STOP: "dropped"}


@dataclass(frozen=True, slots=True)
class SendResult:
    """One attempt's result; `detail` is safe to log (never the URL).

    `status` is the HTTP status (None when no answer came); `retry_after_s` the sink's
    `Retry-After` in seconds, capped (None when not given or not a 429).
    """

    outcome: SendOutcome
    status: int | None
    detail: str
    retry_after_s: float | None = None


async def send_notification(session: aiohttp.ClientSession, sink: SinkSettings,
                            notification: Notification, *, message_id: str, now: float,
                            timeout_s: float,
                            max_retry_after_s: float = MAX_RETRY_AFTER_S) -> SendResult:
    """POST `notification` to `sink` once and classify the answer.

    `message_id` is stable per outbox message (the webhook's `webhook-id`); `now` is epoch
    seconds (the webhook's `webhook-timestamp`); `timeout_s` bounds the whole exchange.
    Returns a result for every answer and every network failure; raises ValueError only
    for arguments that are wrong (timeout, message id).
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    outgoing = render(sink, notification, message_id=message_id, timestamp=int(now))
    headers = {**outgoing.headers, "User-Agent": USER_AGENT}
    timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=timeout_s)
    try:
        # Sent verbatim (encoded=True): a Teams workflow URL's `sp=%2Ftriggers%2F...` and
        # `sig=` must reach it as issued, not re-encoded.
        async with session.post(URL(sink.url.reveal(), encoded=True), data=outgoing.body,
                                headers=headers,
                                timeout=timeout, allow_redirects=False) as resp:
            status, retry_after = resp.status, resp.headers.get("Retry-After")
            answer = await resp.content.read(ANSWER_LIMIT)
    except aiohttp.InvalidURL:
        return SendResult(SendOutcome.FAILED, None, "the sink URL is not a valid URL")
    except aiohttp.ClientResponseError:  # its text and request_info name the URL
        return SendResult(SendOutcome.RETRY, None, "invalid HTTP answer")
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return SendResult(SendOutcome.RETRY, None, _unreached(exc, timeout_s))
    except ValueError:  # yarl refusing the URL before aiohttp saw it
        return SendResult(SendOutcome.FAILED, None, "the sink URL is not a valid URL")
    return classify(status, retry_after, _message(answer, sink.url.reveal()),
                    max_retry_after_s=max_retry_after_s)


def classify(status: int, retry_after: str | None, message: str, *,
             max_retry_after_s: float = MAX_RETRY_AFTER_S) -> SendResult:
    """The result of an answer (a ladder, the module doc's table); `message` is masked."""
    said = f"HTTP {status}: {message}" if message else f"HTTP {status}"
    if 200 <= status < 300:
        return SendResult(SendOutcome.SENT, status, f"HTTP {status}")
    if status == 410:
        return SendResult(SendOutcome.STOP, status, f"{said} (the sink is gone)")
    if status == 429:
        wait = parse_retry_after(retry_after)
        capped = None if wait is None else min(wait, max_retry_after_s)
        return SendResult(SendOutcome.RETRY, status, said, capped)
    if status >= 500:
        return SendResult(SendOutcome.RETRY, status, said)
    if 300 <= status < 400:
        return SendResult(SendOutcome.FAILED, status, f"{said} (redirect not followed)")
    return SendResult(SendOutcome.FAILED, status, said)


def _unreached(exc: BaseException, timeout_s: float) -> str:
    """Fixed words for a failure without an answer (exception texts name the host)."""
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
        return f"timed out after {timeout_s:g} s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "cannot connect"
    return f"connection lost ({type(exc).__name__})"


def _message(answer: bytes, url: str) -> str:
    """The sink's answer as one line of at most MESSAGE_LIMIT characters, URL masked."""
    text = " ".join(answer.decode("utf-8", errors="replace").split())
    secrets = [url]
    parts = urlsplit(url)
    if len(parts.path) > 1:
        secrets.append(parts.path)  # e.g. Slack's /services/T…/B…/token
    if parts.query:
        secrets.append(parts.query)  # e.g. a Teams workflow's sig=…
    for secret in secrets:
        text = text.replace(secret, "***")
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."
