"""Notifications to people: Slack, Microsoft Teams and signed webhooks (pure).

`build_notification` turns a status change into a neutral `Notification`; `select_sinks`
picks the configured sinks (`SinkSettings`) that want it; `render` makes the request a sink
receives. Sending is an adapter of its own, relay.notify_send, so that this package stays
free of I/O (the configuration, in the pure core, builds `SinkSettings`).

How the outbox uses it:

    # with the status change, in its transaction:
    event = event_for(deployment.status)            # None: nobody is told
    n = build_notification(deployment, event, at=now, public_url=report.public_url)
    for sink in select_sinks(settings.notify, n):   # store (sink.name, n.to_json())
        ...
    # the sender, later, per stored message:
    n = Notification.from_json(payload)
    result = await relay.notify_send.send_notification(
        session, sink, n, message_id=f"msg_{message_id}", now=time.time(), timeout_s=10)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from relay.notify.filters import SinkSettings, SinkType, select_sinks, url_problem
from relay.notify.message import (
    DEFAULT_ON,
    Notification,
    NotifyEvent,
    Outgoing,
    Tone,
    build_notification,
    event_for,
    status_page_link,
)
from relay.notify.slack import build_slack
from relay.notify.teams import build_teams
from relay.notify.webhook import build_webhook, signing_key

__all__ = [
    "DEFAULT_ON", "RENDERERS", "Notification", "NotifyEvent", "Outgoing", "SinkSettings",
    "SinkType", "Tone", "build_notification", "event_for", "render", "select_sinks", "signing_key",
    "status_page_link", "url_problem",
]

Renderer = Callable[[SinkSettings, Notification, str, int], Outgoing]

RENDERERS: Mapping[SinkType, Renderer] = {
    SinkType.SLACK: lambda sink, n, message_id, timestamp: build_slack(n),
    SinkType.TEAMS: lambda sink, n, message_id, timestamp: build_teams(n),
    SinkType.WEBHOOK: lambda sink, n, message_id, timestamp: build_webhook(
        n, secret=sink.secret, message_id=message_id, timestamp=timestamp),
}


def render(sink: SinkSettings, notification: Notification, *, message_id: str,
           timestamp: int) -> Outgoing:
    """The request `sink` receives for `notification` (headers and body).

    `message_id` is stable per outbox message (the `webhook-id`); `timestamp` is the
    attempt's time in epoch seconds. Raises ValueError as the builders do.
    """
    return RENDERERS[sink.type](sink, notification, message_id, timestamp)
