"""Properties of relay.notify over any text a push can carry (hypothesis)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.notify import NotifyEvent
from relay.notify.message import Notification
from relay.notify.slack import build_slack
from relay.notify.teams import build_teams
from relay.notify.webhook import build_webhook, sign, signing_key
from relay.secret import Secret
from tests.notify_samples import notification

texts = st.text(min_size=1, max_size=300)
events = st.sampled_from(list(NotifyEvent))
RUNS = settings(max_examples=60, deadline=None, database=None)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@RUNS
@given(event=events, repo=texts, ref=texts, reason=texts)
def test_slack_text_never_carries_a_control_sequence(event: NotifyEvent, repo: str, ref: str,
                                                     reason: str) -> None:
    msg = json.loads(build_slack(notification(event, repo=repo, ref=ref, error=reason)).body)
    assert not any("<" in s or ">" in s for s in strings(msg))


@RUNS
@given(event=events, repo=texts, reason=texts)
def test_every_builder_makes_valid_utf8_json(event: NotifyEvent, repo: str, reason: str) -> None:
    n = notification(event, repo=repo, error=reason)
    for out in (build_slack(n), build_teams(n),
                build_webhook(n, secret=Secret("k"), message_id="msg_1", timestamp=1)):
        json.loads(out.body.decode("utf-8"))


@RUNS
@given(event=events, repo=texts, reason=texts)
def test_a_notification_survives_the_outbox(event: NotifyEvent, repo: str, reason: str) -> None:
    n = notification(event, repo=repo, error=reason)
    assert Notification.from_json(json.loads(json.dumps(n.to_json()))) == n


@RUNS
@given(secret=st.text(min_size=1).filter(lambda s: not s.startswith("whsec_")),
       body=st.binary())
def test_the_signature_depends_on_every_byte(secret: str, body: bytes) -> None:
    key = signing_key(Secret(secret))
    assert key == secret.encode("utf-8")
    signature = sign(key, "msg_1", 1, body)
    assert signature != sign(key, "msg_1", 1, body + b" ")
    assert signature != sign(key, "msg_2", 1, body)
