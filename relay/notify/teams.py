"""Pure: a notification as a Microsoft Teams workflow-webhook message with an Adaptive Card.

The Teams "Post to a channel when a webhook request is received" workflow (Power Automate /
Workflows app, which replaced Office 365 connectors) takes a message whose attachments are
Adaptive Cards: https://learn.microsoft.com/en-us/connectors/teams/#microsoft-teams-webhook
and the card schema https://adaptivecards.io/explorer/ (version 1.4, what Teams renders).
The card: a coloured headline, a FactSet, the reason, and an `Action.OpenUrl` to the status
page when there is a link. Texts are plain (`TextBlock` with wrap); Teams does not turn
them into mentions.
"""

from __future__ import annotations

import json
from typing import Any

from relay.notify.message import JSON_HEADERS, Notification, Outgoing, Tone, facts

CARD_VERSION = "1.4"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
COLOURS = {Tone.GOOD: "Good", Tone.BAD: "Attention", Tone.WARNING: "Warning",
           Tone.NEUTRAL: "Default"}


def build_teams(notification: Notification) -> Outgoing:
    """The POST for a Teams workflow webhook: `{"type": "message", "attachments": [card]}`."""
    message = {"type": "message", "attachments": [{
        "contentType": CARD_CONTENT_TYPE, "contentUrl": None,
        "content": adaptive_card(notification)}]}
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Outgoing(dict(JSON_HEADERS), body)


def adaptive_card(n: Notification) -> dict[str, Any]:
    """The Adaptive Card (1.4) of a notification."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": n.title, "weight": "Bolder", "size": "Medium",
         "color": COLOURS[n.tone], "wrap": True},
        {"type": "FactSet", "facts": [{"title": label, "value": value}
                                      for label, value in facts(n)]},
    ]
    if n.reason:
        body.append({"type": "TextBlock", "text": n.reason, "wrap": True, "isSubtle": True})
    body.append({"type": "TextBlock", "text": f"relay · deployment #{n.deployment_id} · "
                 f"{n.kind}", "size": "Small", "isSubtle": True, "wrap": True})
    card: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard",
                            "version": CARD_VERSION, "body": body}
    if n.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in relay",
                            "url": n.link}]
    return card
