"""Sample deployments and notifications for the notification tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from relay.config import Action
from relay.deployment import Deployment, DeploymentStatus
from relay.events import Source
from relay.notify import Notification, NotifyEvent, build_notification

SHA = "5f1c0e9a7d21" + "a" * 28
OLD_SHA = "0b7d3c2a1e90" + "b" * 28
CREATED = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
TRIGGERED = CREATED + timedelta(seconds=3)
FINISHED = TRIGGERED + timedelta(seconds=41)
PUBLIC_URL = "https://relay.example.com/"


def deployment(**changes: Any) -> Deployment:
    base = Deployment(
        id=42, cluster=10702, action=Action.VERSION, version=SHA, source=Source.GITHUB,
        repo="acme/shop", ref="refs/heads/main", delivery_id="d-1",
        status=DeploymentStatus.FAILED, created_at=CREATED, triggered_at=TRIGGERED,
        finished_at=FINISHED, error="cluster reported deploy_fail")
    return replace(base, **changes)


def notification(event: NotifyEvent | str = NotifyEvent.FAILED, *,
                 public_url: str | None = PUBLIC_URL, **changes: Any) -> Notification:
    rollback = None
    if NotifyEvent(event) is NotifyEvent.ROLLBACK:
        rollback = deployment(id=43, version=OLD_SHA, status=DeploymentStatus.QUEUED,
                              triggered_at=None, finished_at=None, error=None, manual=True)
    return build_notification(deployment(**changes), event, at=FINISHED,
                              public_url=public_url, rollback=rollback)
