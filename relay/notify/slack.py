"""Pure: a notification as a Slack incoming-webhook message (JSON with `text` and `blocks`).

Format: https://api.slack.com/messaging/webhooks and Block Kit,
https://api.slack.com/reference/block-kit/blocks. `text` is the fallback shown in
notifications and by clients without blocks. Limits honoured: a section's text at most 3,000
characters, at most 10 fields of at most 2,000 characters each, a button's text at most 75
and its URL at most 3,000 characters. Text from deployments (repo, ref, reason) is escaped
(`&`, `<`, `>`) so that it can never become a link or an `@channel` mention
(https://api.slack.com/reference/surfaces/formatting#escaping).
"""

from __future__ import annotations

import json
from typing import Any

from relay.notify.message import JSON_HEADERS, Notification, Outgoing, Tone, facts

EMOJI = {Tone.GOOD: ":white_check_mark:", Tone.BAD: ":x:", Tone.WARNING: ":warning:",
         Tone.NEUTRAL: ":information_source:"}
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
URL_LIMIT = 3000
BUTTON_TEXT = "Open in relay"


def build_slack(notification: Notification) -> Outgoing:
    """The POST for a Slack incoming webhook: `{"text": ..., "blocks": [...]}` as UTF-8 JSON."""
    body = json.dumps(slack_message(notification), ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
    return Outgoing(dict(JSON_HEADERS), body)


def slack_message(n: Notification) -> dict[str, Any]:
    """The message as a mapping: a headline section, the facts as fields, the reason, a
    context line, and a button to the status page when there is a link."""
    headline = f"{EMOJI[n.tone]} *{escape(n.title)}*"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": _mrkdwn(headline, SECTION_LIMIT)},
        {"type": "section", "fields": [_mrkdwn(f"*{label}*\n{escape(value)}", FIELD_LIMIT)
                                       for label, value in facts(n)]},
    ]
    if n.reason:
        reason = f"*Reason*\n{escape(n.reason)}"
        blocks.append({"type": "section", "text": _mrkdwn(reason, SECTION_LIMIT)})
    if n.link and len(n.link) <= URL_LIMIT:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": BUTTON_TEXT},
            "url": n.link, "action_id": "open_deployment"}]})
    blocks.append({"type": "context", "elements": [
        _mrkdwn(f"relay · deployment #{n.deployment_id} · {n.kind}", SECTION_LIMIT)]})
    return {"text": escape(n.text), "blocks": blocks}


def escape(text: str) -> str:
    """Slack's three control characters as entities: text stays text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str, limit: int) -> dict[str, str]:
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return {"type": "mrkdwn", "text": text}
