"""docs/notifications.md stays true to the code: its events, its webhook body, its verify
snippet and its secret-generating command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from relay.notify import NotifyEvent, SinkType
from relay.notify.webhook import build_webhook, signing_key, webhook_body
from relay.secret import Secret
from tests.notify_samples import notification

DOC = (Path(__file__).resolve().parents[2] / "docs" / "notifications.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, re.S)


def test_the_events_table_lists_every_event_and_each_sink_has_a_section() -> None:
    table = DOC.split("The events a sink can ask for", 1)[1].split("Filters:", 1)[0]
    assert {e.value for e in NotifyEvent} == set(re.findall(r"^\| `(\w+)` \|", table, re.M))
    headings = {SinkType.SLACK: "## Slack", SinkType.TEAMS: "## Microsoft Teams",
                SinkType.WEBHOOK: "## Webhooks"}
    assert set(headings) == set(SinkType)
    assert all(f"\n{heading}\n" in DOC for heading in headings.values())


def test_the_webhook_example_has_the_real_shape() -> None:
    [example] = [json.loads(b) for b in blocks("json") if '"deployment"' in b]
    real = webhook_body(notification())
    assert set(example) == set(real)
    assert set(example["deployment"]) == set(real["deployment"])
    assert example == json.loads(json.dumps(real))  # the sample of tests/notify_samples.py


def verify_function() -> Any:
    [snippet] = [b for b in blocks("python") if "def verify" in b]
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # noqa: S102 - the documented snippet, run as a reader would
    return namespace["verify"]


def generated_secret() -> str:
    [command] = [line for b in blocks("sh") for line in b.splitlines() if "whsec_" in line]
    assert command.startswith("python3 -c ")
    out = subprocess.run([sys.executable, "-c", command.split("'")[1]], check=True,
                         capture_output=True, text=True).stdout.strip()
    assert len(signing_key(Secret(out))) == 32
    return out


@pytest.mark.parametrize("kind", ["whsec", "plain"])
def test_the_verify_snippet_accepts_relays_signature_and_refuses_a_forgery(kind: str) -> None:
    verify = verify_function()
    secret = generated_secret() if kind == "whsec" else "a plain shared secret"
    wrong = generated_secret() if kind == "whsec" else "a plain shared secreT"
    out = build_webhook(notification(), secret=Secret(secret), message_id="msg_1",
                        timestamp=int(time.time()))
    headers = {k.lower(): v for k, v in out.headers.items()}
    assert verify(secret, headers, out.body) is True
    assert verify(secret, headers, out.body.replace(b"failed", b"succeeded")) is False
    assert verify(wrong, headers, out.body) is False
    old = build_webhook(notification(), secret=Secret(secret), message_id="msg_1",
                        timestamp=int(time.time()) - 3600)
    assert verify(secret, {k.lower(): v for k, v in old.headers.items()}, old.body) is False
