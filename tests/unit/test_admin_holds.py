"""relay.admin_api.holds_now: the holds that `GET /api/holds` and the status page show."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relay.admin_api import holds_now
from relay.gates.holds import HoldKind, Pause, ScheduledHold
from tests.factories import make_settings

NOW = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)  # a Monday


def test_pauses_and_windows_per_cluster_in_cluster_order(tmp_path: Path) -> None:
    shop = ScheduledHold(name="lunch", schedule="0 12 * * *", duration_s=3600,
                         repos=("acme/shop",))
    settings = dataclasses.replace(make_settings(tmp_path), holds=(shop,))
    pauses = (Pause(cluster=99, reason="not routed", since=NOW),
              Pause(cluster=10703, reason="api freeze", until=NOW - timedelta(minutes=1)))
    held = holds_now(settings, pauses, NOW)
    # acme/shop's clusters are in the lunch window; the expired pause holds nothing; a
    # paused cluster no route names is still listed.
    assert [(c, h.kind, h.name) for c, h in held.active] == [
        (99, HoldKind.PAUSE, "pause"), (10702, HoldKind.SCHEDULE, "lunch"),
        (10800, HoldKind.SCHEDULE, "lunch")]
    assert [u.name for u in held.upcoming][:1] == ["lunch"]
    assert held.upcoming[0].starts_at == NOW.replace(hour=12, minute=0) + timedelta(days=1)
