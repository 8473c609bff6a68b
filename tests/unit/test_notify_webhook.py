"""relay.notify.webhook: the signed JSON body, checked by the Standard Webhooks verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from relay.deployment import DeploymentStatus
from relay.notify import NotifyEvent
from relay.notify.webhook import build_webhook, signing_key
from relay.secret import Secret
from tests.notify_samples import deployment, notification

WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
TS = 1_800_000_000


def test_body_has_type_and_the_admin_api_deployment_object() -> None:
    out = build_webhook(notification(), secret=None, message_id="msg_7", timestamp=TS)
    body = json.loads(out.body)
    assert body["type"] == "deployment.failed"
    assert body["deployment"] == deployment().to_json()
    assert body["timestamp"] == "2026-11-29T10:00:44.000Z"
    assert body["link"] == "https://relay.example.com/ui/deployments/42"
    assert body["summary"].startswith("Rollout of")
    assert "rollback" not in body


def test_rollback_body_carries_both_deployments() -> None:
    body = json.loads(build_webhook(notification(NotifyEvent.ROLLBACK), secret=None,
                                    message_id="msg_7", timestamp=TS).body)
    assert body["type"] == "deployment.rollback"
    assert body["deployment"]["id"] == 42 and body["rollback"]["id"] == 43
    assert body["rollback"]["status"] == DeploymentStatus.QUEUED.value


def test_headers_are_standard_webhooks() -> None:
    out = build_webhook(notification(), secret=Secret(WHSEC), message_id="msg_7", timestamp=TS)
    assert out.headers["webhook-id"] == "msg_7"
    assert out.headers["webhook-timestamp"] == str(TS)
    assert out.headers["webhook-signature"].startswith("v1,")


def test_unsigned_without_a_secret() -> None:
    out = build_webhook(notification(), secret=None, message_id="msg_7", timestamp=TS)
    assert "webhook-signature" not in out.headers and out.headers["webhook-id"] == "msg_7"


def signed(secret: str, **kw: Any) -> tuple[dict[str, str], bytes]:
    now = int(time.time())  # the reference verifier checks the timestamp against its clock
    out = build_webhook(notification(**kw), secret=Secret(secret), message_id="msg_7",
                        timestamp=now)
    return dict(out.headers), out.body


def test_the_reference_verifier_accepts_a_whsec_secret() -> None:
    headers, body = signed(WHSEC)
    assert Webhook(WHSEC).verify(body, headers)["type"] == "deployment.failed"


def test_the_reference_verifier_accepts_a_plain_secret_given_as_bytes() -> None:
    headers, body = signed("correct horse battery staple")
    payload = Webhook(b"correct horse battery staple").verify(body, headers)
    assert payload["deployment"]["id"] == 42


def test_the_reference_verifier_accepts_non_ascii_bodies() -> None:
    headers, body = signed(WHSEC, error="échec: Ünïcode ✗")
    assert Webhook(WHSEC).verify(body, headers)["deployment"]["error"] == "échec: Ünïcode ✗"


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp", "key"])
def test_the_reference_verifier_refuses_a_tampered_message(tamper: str) -> None:
    headers, body = signed(WHSEC)
    key = WHSEC
    if tamper == "body":
        body = body.replace(b'"failed"', b'"succeeded"', 1)
    elif tamper == "id":
        headers["webhook-id"] = "msg_8"
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) - 1)
    else:
        key = "whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(key).verify(body, headers)


def test_signature_follows_the_spec_text() -> None:
    """An independent reading of the spec: HMAC-SHA256 over `id.timestamp.body`, base64."""
    out = build_webhook(notification(), secret=Secret(WHSEC), message_id="msg_7", timestamp=TS)
    key = base64.b64decode(WHSEC.removeprefix("whsec_"))
    expected = hmac.new(key, b"msg_7." + str(TS).encode() + b"." + out.body,
                        hashlib.sha256).digest()
    assert out.headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()


def test_the_id_is_stable_and_the_signature_changes_with_the_timestamp() -> None:
    a = build_webhook(notification(), secret=Secret(WHSEC), message_id="msg_7", timestamp=TS)
    b = build_webhook(notification(), secret=Secret(WHSEC), message_id="msg_7",
                      timestamp=TS + 30)
    assert a.body == b.body and a.headers["webhook-id"] == b.headers["webhook-id"]
    assert a.headers["webhook-signature"] != b.headers["webhook-signature"]


@pytest.mark.parametrize(("value", "key"), [
    (WHSEC, b"0123456789abcdef0123456789abcdef"),
    ("whsec_" + base64.b64encode(b"unpadded!").decode().rstrip("="), b"unpadded!"),
    ("plain-secret", b"plain-secret"),
    ("sécret", "sécret".encode()),
])
def test_signing_key(value: str, key: bytes) -> None:
    assert signing_key(Secret(value)) == key


@pytest.mark.parametrize("value", ["", "whsec_", "whsec_not base64!"])
def test_a_bad_secret_is_refused_without_showing_it(value: str) -> None:
    with pytest.raises(ValueError, match="RELAY_AUDIT_SECRET") as caught:
        signing_key(Secret(value, "RELAY_AUDIT_SECRET"))
    assert "base64!" not in str(caught.value)


@pytest.mark.parametrize("message_id", ["", "msg 7", "msg_7\r\nX-Evil: 1", "m" * 129])
def test_a_malformed_message_id_is_refused(message_id: str) -> None:
    with pytest.raises(ValueError, match="message id"):
        build_webhook(notification(), secret=None, message_id=message_id, timestamp=TS)
