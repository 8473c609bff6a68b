"""relay.notify's Slack and Teams builders: the shapes those services accept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from relay.notify import NotifyEvent, SinkSettings, SinkType, render
from relay.notify.slack import build_slack
from relay.notify.teams import build_teams
from relay.secret import Secret
from tests.notify_samples import SHA, notification


def slack(event: NotifyEvent = NotifyEvent.FAILED, **kw: Any) -> dict[str, Any]:
    out = build_slack(notification(event, **kw))
    assert out.headers["Content-Type"] == "application/json; charset=utf-8"
    data: dict[str, Any] = json.loads(out.body.decode("utf-8"))
    return data


def blocks_of(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in message["blocks"] if b["type"] == kind]


def test_slack_has_fallback_text_and_blocks() -> None:
    msg = slack()
    assert msg["text"].startswith(f"Rollout of {SHA[:12]} to cluster 10702 failed")
    assert "cluster reported deploy_fail" in msg["text"]
    assert [b["type"] for b in msg["blocks"]] == ["section", "section", "section", "actions",
                                                  "context"]
    headline = msg["blocks"][0]["text"]
    assert headline["type"] == "mrkdwn" and headline["text"].startswith(":x: *Rollout of")


def test_slack_fields_name_the_facts() -> None:
    fields = [f["text"] for f in msg_fields(slack())]
    assert fields == ["*Repository*\nacme/shop", "*Ref*\nmain", f"*Commit*\n{SHA[:12]}",
                      "*Cluster*\n10702", "*Status*\nfailed", "*Duration*\n41 s"]
    assert all(f["type"] == "mrkdwn" for f in msg_fields(slack()))


def msg_fields(msg: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for b in blocks_of(msg, "section") for f in b.get("fields", [])]


def test_slack_button_links_to_the_status_page() -> None:
    (actions,) = blocks_of(slack(), "actions")
    (button,) = actions["elements"]
    assert button["type"] == "button" and button["text"]["type"] == "plain_text"
    assert button["url"] == "https://relay.example.com/ui/deployments/42"


def test_slack_without_a_link_has_no_button() -> None:
    assert blocks_of(slack(public_url=None), "actions") == []


def test_slack_without_a_reason_has_no_reason_section() -> None:
    msg = slack(NotifyEvent.SUCCEEDED, error=None)
    assert [b["type"] for b in msg["blocks"]] == ["section", "section", "actions", "context"]
    assert msg["blocks"][0]["text"]["text"].startswith(":white_check_mark:")


def test_slack_escapes_deployment_text_so_it_cannot_mention_or_link() -> None:
    msg = slack(error="boom <!channel> <https://evil.example|click> & more",
                repo="acme/<@U123>")
    raw = json.dumps(msg)
    assert "<!channel>" not in raw and "<@U123>" not in raw and "<https://evil" not in raw
    assert "&lt;!channel&gt;" in raw and "&amp; more" in raw


def test_slack_respects_block_kit_limits() -> None:
    msg = slack(error="e" * 999, repo="r" * 3000)
    for block in msg["blocks"]:
        if "text" in block:
            assert len(block["text"]["text"]) <= 3000
        assert len(block.get("fields", [])) <= 10
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
    assert len(msg["blocks"]) <= 50


def test_slack_rollback_shows_the_rollback() -> None:
    fields = [f["text"] for f in msg_fields(slack(NotifyEvent.ROLLBACK))]
    assert "*Rollback*\ndeployment #43 to 0b7d3c2a1e90" in fields
    assert slack(NotifyEvent.ROLLBACK)["blocks"][0]["text"]["text"].startswith(":warning:")


# -- Teams ----------------------------------------------------------------------------------

ALLOWED_BODY = {"TextBlock", "FactSet"}


def teams(event: NotifyEvent = NotifyEvent.FAILED, **kw: Any) -> dict[str, Any]:
    out = build_teams(notification(event, **kw))
    assert out.headers["Content-Type"] == "application/json; charset=utf-8"
    data: dict[str, Any] = json.loads(out.body)
    return data


def card_of(message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    return card


def test_teams_message_carries_one_adaptive_card_1_4() -> None:
    card = card_of(teams())
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert {element["type"] for element in card["body"]} <= ALLOWED_BODY
    title = card["body"][0]
    assert title["text"].startswith(f"Rollout of {SHA[:12]} to cluster 10702 failed")
    assert title["color"] == "Attention" and title["wrap"] is True


def test_teams_facts_and_reason() -> None:
    card = card_of(teams())
    (factset,) = [e for e in card["body"] if e["type"] == "FactSet"]
    facts = {f["title"]: f["value"] for f in factset["facts"]}
    assert facts == {"Repository": "acme/shop", "Ref": "main", "Commit": SHA[:12],
                     "Cluster": "10702", "Status": "failed", "Duration": "41 s"}
    assert all(isinstance(v, str) for f in factset["facts"] for v in f.values())
    assert any(e.get("text") == "cluster reported deploy_fail" for e in card["body"])


def test_teams_open_url_action_only_with_a_link() -> None:
    (action,) = card_of(teams())["actions"]
    assert action == {"type": "Action.OpenUrl", "title": "Open in relay",
                      "url": "https://relay.example.com/ui/deployments/42"}
    assert "actions" not in card_of(teams(public_url=None))


@pytest.mark.parametrize(("event", "colour"), [
    (NotifyEvent.SUCCEEDED, "Good"), (NotifyEvent.ROLLBACK, "Warning"),
    (NotifyEvent.SKIPPED, "Default"),
])
def test_teams_colours(event: NotifyEvent, colour: str) -> None:
    assert card_of(teams(event))["body"][0]["color"] == colour


@pytest.mark.parametrize("kind", list(SinkType))
def test_render_covers_every_sink_type(kind: SinkType) -> None:
    sink = SinkSettings("s", kind, Secret("https://h.example/x", "U"),
                        Secret("k", "S") if kind is SinkType.WEBHOOK else None)
    out = render(sink, notification(), message_id="msg_1", timestamp=1_800_000_000)
    assert json.loads(out.body)
    assert ("webhook-signature" in out.headers) is (kind is SinkType.WEBHOOK)
