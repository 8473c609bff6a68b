"""relay.notify_send against the fake sinks on loopback: what each answer becomes, no leaks."""

from __future__ import annotations

import base64
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from standardwebhooks.webhooks import Webhook

from relay.notify import NotifyEvent, SinkSettings, SinkType
from relay.notify_send import SendOutcome, SendResult, classify, send_notification
from relay.secret import Secret
from tests.fakesinks import FakeSinks, serve_fake_sinks
from tests.notify_samples import notification

TOKEN = "XOXB-SINK-URL-TOKEN-0123456789"  # recognisable: must never show up anywhere
WHSEC = "whsec_" + base64.b64encode(b"a signing key of 32 bytes long!!").decode()


@pytest.fixture
async def fake() -> AsyncIterator[FakeSinks]:
    async with serve_fake_sinks() as sinks:
        yield sinks


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def sink_for(url: str, kind: SinkType = SinkType.SLACK, **kw: Any) -> SinkSettings:
    return SinkSettings("ops", kind, Secret(url, "RELAY_OPS_URL"), **kw)


async def send(session: aiohttp.ClientSession, sink: SinkSettings, *,
               timeout_s: float = 5.0, **kw: Any) -> SendResult:
    return await send_notification(session, sink, notification(), message_id="msg_1",
                                   now=time.time(), timeout_s=timeout_s, **kw)


async def test_slack_message_is_posted_as_json(fake: FakeSinks,
                                               session: aiohttp.ClientSession) -> None:
    result = await send(session, sink_for(fake.url(TOKEN)))
    assert result == SendResult(SendOutcome.SENT, 200, "HTTP 200")
    (received,) = fake.for_sink(TOKEN)
    assert received.headers["Content-Type"] == "application/json; charset=utf-8"
    assert received.headers["User-Agent"].startswith("relay/")
    assert received.json()["blocks"][0]["type"] == "section"


async def test_teams_message_is_posted(fake: FakeSinks, session: aiohttp.ClientSession) -> None:
    fake.answer(202)  # the Teams workflow answers 202 Accepted
    result = await send(session, sink_for(fake.url(TOKEN), SinkType.TEAMS))
    assert result.outcome is SendOutcome.SENT and result.status == 202
    assert fake.received[0].json()["attachments"][0]["content"]["type"] == "AdaptiveCard"


async def test_the_url_is_sent_as_issued(fake: FakeSinks,
                                         session: aiohttp.ClientSession) -> None:
    """A Teams workflow URL: its percent-encoded query must not be re-encoded."""
    query = "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=ab%2Bc%3D"
    fake.answer(202)
    result = await send(session, sink_for(fake.url("teams") + query, SinkType.TEAMS))
    assert result.outcome is SendOutcome.SENT
    assert fake.received[0].raw_path == "/sink/teams" + query


async def test_a_signed_webhook_passes_the_reference_verifier(
        fake: FakeSinks, session: aiohttp.ClientSession) -> None:
    sink = sink_for(fake.url("audit"), SinkType.WEBHOOK, secret=Secret(WHSEC, "RELAY_S"),
                    on={NotifyEvent.FAILED})
    assert (await send(session, sink)).outcome is SendOutcome.SENT
    (received,) = fake.for_sink("audit")
    payload = Webhook(WHSEC).verify(received.body, received.headers)
    assert payload["type"] == "deployment.failed" and payload["deployment"]["id"] == 42
    assert received.headers["webhook-id"] == "msg_1"


@pytest.mark.parametrize(("status", "headers", "body", "expected"), [
    (204, {}, b"", SendResult(SendOutcome.SENT, 204, "HTTP 204")),
    (410, {}, b"channel_is_archived",
     SendResult(SendOutcome.STOP, 410, "HTTP 410: channel_is_archived (the sink is gone)")),
    (429, {"Retry-After": "30"}, b"rate limited",
     SendResult(SendOutcome.RETRY, 429, "HTTP 429: rate limited", 30.0)),
    (429, {"Retry-After": "86400"}, b"", SendResult(SendOutcome.RETRY, 429, "HTTP 429", 3600.0)),
    (429, {}, b"", SendResult(SendOutcome.RETRY, 429, "HTTP 429", None)),
    (500, {}, b"oops", SendResult(SendOutcome.RETRY, 500, "HTTP 500: oops")),
    (503, {"Retry-After": "5"}, b"", SendResult(SendOutcome.RETRY, 503, "HTTP 503")),
    (400, {}, b"invalid_payload", SendResult(SendOutcome.FAILED, 400, "HTTP 400: invalid_payload")),
    (403, {}, b"invalid_token", SendResult(SendOutcome.FAILED, 403, "HTTP 403: invalid_token")),
    (404, {}, b"no_service", SendResult(SendOutcome.FAILED, 404, "HTTP 404: no_service")),
])
async def test_answers_are_classified(fake: FakeSinks, session: aiohttp.ClientSession,
                                      status: int, headers: dict[str, str], body: bytes,
                                      expected: SendResult) -> None:
    fake.answer(status, headers=headers, body=body)
    assert await send(session, sink_for(fake.url(TOKEN))) == expected


async def test_a_redirect_is_not_followed(fake: FakeSinks,
                                          session: aiohttp.ClientSession) -> None:
    fake.redirect(fake.url("elsewhere"))
    result = await send(session, sink_for(fake.url(TOKEN)))
    assert result.outcome is SendOutcome.FAILED and result.status == 302
    assert "redirect not followed" in result.detail
    assert fake.for_sink("elsewhere") == []


async def test_a_sink_that_does_not_answer_times_out_and_is_retried(
        fake: FakeSinks, session: aiohttp.ClientSession) -> None:
    fake.hang()
    result = await send(session, sink_for(fake.url(TOKEN)), timeout_s=0.2)
    assert result == SendResult(SendOutcome.RETRY, None, "timed out after 0.2 s")


async def test_a_refused_connection_is_retried(session: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await send(session, sink_for(f"http://127.0.0.1:{port}/sink/{TOKEN}"))
    assert result == SendResult(SendOutcome.RETRY, None, "cannot connect")


async def test_a_long_answer_is_read_only_up_to_the_cap(
        fake: FakeSinks, session: aiohttp.ClientSession) -> None:
    fake.answer(400, body=b"x" * 5_000_000)
    result = await send(session, sink_for(fake.url(TOKEN)))
    assert result.outcome is SendOutcome.FAILED and len(result.detail) <= 220


async def test_the_url_never_leaks(fake: FakeSinks, session: aiohttp.ClientSession,
                                   caplog: pytest.LogCaptureFixture,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Every kind of outcome, including a sink echoing its own URL: the token shows nowhere."""
    caplog.set_level(logging.DEBUG)
    url = fake.url(TOKEN)
    sink = sink_for(url)
    texts = [repr(sink), str(sink)]
    fake.answer(400, body=f"bad request to {url}".encode())
    fake.answer(500, body=f"/sink/{TOKEN} is down".encode())
    fake.answer(410)
    fake.answer(429, headers={"Retry-After": "1"})
    fake.redirect(url)
    fake.hang()
    results = [await send(session, sink, timeout_s=0.2) for _ in range(6)]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    results.append(await send(session, sink_for(f"http://127.0.0.1:{port}/{TOKEN}")))
    results.append(await send(session, sink_for(f"http://bad host/{TOKEN}")))  # DNS
    invalid = sink_for(url)  # a URL aiohttp refuses, past the settings' check
    object.__setattr__(invalid, "url", Secret(f"http://h:99999/{TOKEN}", "RELAY_OPS_URL"))
    results.append(await send(session, invalid))
    assert [r.outcome for r in results] == [
        SendOutcome.FAILED, SendOutcome.RETRY, SendOutcome.STOP, SendOutcome.RETRY,
        SendOutcome.FAILED, SendOutcome.RETRY, SendOutcome.RETRY, SendOutcome.RETRY,
        SendOutcome.FAILED]
    texts += [repr(r) for r in results] + [r.detail for r in results]
    captured = capsys.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    assert not [t for t in texts if TOKEN in t]
    assert "***" in results[0].detail  # the echoed URL was masked, not dropped silently


async def test_a_wrong_timeout_is_refused(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        await send(session, sink_for("https://h.example/x"), timeout_s=0)


@pytest.mark.parametrize(("status", "outcome", "label"), [
    (200, SendOutcome.SENT, "sent"), (410, SendOutcome.STOP, "dropped"),
    (503, SendOutcome.RETRY, "retried"), (422, SendOutcome.FAILED, "failed"),
])
def test_metric_outcomes(status: int, outcome: SendOutcome, label: str) -> None:
    result = classify(status, None, "")
    assert result.outcome is outcome and result.outcome.metric_outcome == label
