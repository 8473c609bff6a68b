"""Pure: is an answer a rate limit, and how long does the host ask us to wait?

Sources of the rules:
- GitHub: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
  (primary limit: 403 or 429 with `x-ratelimit-remaining: 0`, wait until `x-ratelimit-reset`,
  epoch seconds; secondary limit: 403 or 429 with `retry-after` seconds);
- GitLab: https://docs.gitlab.com/ee/administration/settings/user_and_ip_rate_limits.html
  (429 with `Retry-After` and `RateLimit-Reset`, epoch seconds);
- Gitea: 429 with `Retry-After` when its API rate limiter is on; it also sends GitHub's
  `X-RateLimit-*` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from relay.cluster.errors import parse_retry_after

MAX_WAIT_S = 3600.0  # a host asking for more is still answered with this: a bad header is capped


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A rate-limit answer; `wait_s` is the host's wait (capped), None when it named none."""

    wait_s: float | None


SECONDARY_WAIT_S = 60.0  # GitHub: a secondary limit without headers: "wait at least a minute"


def rate_limit_of(status: int, headers: Mapping[str, str], *, now: float,
                  message: str = "") -> RateLimit | None:
    """Return the rate limit an answer states, or None when it is not one.

    `headers` must look names up case-insensitively (aiohttp's CIMultiDict does); `now` is
    epoch seconds; `message` is the host's error message. A 429 is always a rate limit; a
    403 only with `Retry-After`, with `X-RateLimit-Remaining: 0`, or when its message says
    "rate limit" (GitHub's secondary limit without headers: wait a minute); any other 403
    is a permission error, final.
    """
    retry_after = parse_retry_after(headers.get("Retry-After"))
    exhausted = headers.get("X-RateLimit-Remaining", "").strip() == "0" or \
        headers.get("RateLimit-Remaining", "").strip() == "0"
    if status == 429 or (status == 403 and (retry_after is not None or exhausted)):
        wait = retry_after if retry_after is not None else _until_reset(headers, now)
        return RateLimit(None if wait is None else min(wait, MAX_WAIT_S))
    if status == 403 and "rate limit" in message.lower():
        return RateLimit(SECONDARY_WAIT_S)
    return None


def _until_reset(headers: Mapping[str, str], now: float) -> float | None:
    for name in ("X-RateLimit-Reset", "RateLimit-Reset"):
        raw = headers.get(name, "").strip()
        try:
            reset = float(raw)
        except ValueError:
            continue
        if reset == reset:  # not NaN
            return max(0.0, reset - now)
    return None
