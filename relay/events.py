"""Deliveries as frozen values: the facade over relay.hosts, where each git host lives.

Other modules import the delivery values from here (`Source`, `PushEvent`, `Delivery`,
`WebhookError`, `parse_delivery`); the per-host knowledge (headers, signatures, payloads) is
in relay/hosts/, one module per host, in the table `relay.hosts.HOSTS`.
"""

from __future__ import annotations

from relay.hosts import HOSTS, event_kind_hint, parse_delivery
from relay.hosts.base import (
    MAX_DELIVERY_KEY,
    Delivery,
    EventKind,
    HeadCommit,
    Malformed,
    PushEvent,
    Source,
    Unauthorized,
    UnsupportedMediaType,
    WebhookError,
    push_ignored,
)
from relay.hosts.gitea import sign_gitea
from relay.hosts.github import sign_github

__all__ = [
    "HOSTS",
    "MAX_DELIVERY_KEY",
    "Delivery",
    "EventKind",
    "HeadCommit",
    "Malformed",
    "PushEvent",
    "Source",
    "Unauthorized",
    "UnsupportedMediaType",
    "WebhookError",
    "event_kind_hint",
    "parse_delivery",
    "push_ignored",
    "sign_gitea",
    "sign_github",
]
