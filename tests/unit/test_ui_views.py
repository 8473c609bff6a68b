"""relay.ui.views and relay.ui.session: badges, words, timeline, host links, headers, cookies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from relay.config import Action
from relay.deployment import Deployment, DeploymentStatus
from relay.ui import views
from relay.ui.session import Signer

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SHA = "5f1c0e9a7d21" + "0" * 28
BEFORE = "a" * 40


def dep(**kw: object) -> Deployment:
    values: dict[str, object] = dict(id=7, cluster=10702, action=Action.VERSION, version=SHA,
                                     source=None, repo="acme/shop", ref="refs/heads/main",
                                     delivery_id="d1", status=DeploymentStatus.QUEUED,
                                     created_at=T0)
    values.update(kw)
    return Deployment(**values)  # type: ignore[arg-type]


def test_every_status_has_an_icon_and_a_word() -> None:
    for status in DeploymentStatus:
        b = views.badge(status.value)
        assert b.icon and b.word and b.tone in {"ok", "bad", "warn", "busy", "idle"}
    assert views.badge("new_status").word == "new_status"


@pytest.mark.parametrize(("seconds", "words"), [
    (None, "-"), (0.85, "850 ms"), (41, "41 s"), (185, "3 min 5 s"), (7440, "2 h 4 min"),
    (266400, "3 d 2 h"), (-3, "0 ms")])
def test_words_for(seconds: float | None, words: str) -> None:
    assert views.words_for(seconds) == words


def test_timeline_of_a_finished_deployment() -> None:
    d = dep(status=DeploymentStatus.FAILED, trigger_started_at=T0 + timedelta(seconds=1),
            triggered_at=T0 + timedelta(seconds=2), finished_at=T0 + timedelta(seconds=40),
            error="rollout failed: update_fail", attempts=1)
    steps = views.timeline(d)
    assert [s.label for s in steps] == ["queued", "triggering", "rolling_out", "failed"]
    assert steps[-1].note == "rollout failed: update_fail"
    assert views.duration_of(d, T0) == 40


def test_timeline_of_an_open_deployment_ends_now() -> None:
    steps = views.timeline(dep(status=DeploymentStatus.QUEUED))
    assert [s.label for s in steps] == ["queued"]
    rolling = views.timeline(dep(status=DeploymentStatus.TRIGGERING))
    assert rolling[-1].label == "triggering" and rolling[-1].at is None


def test_progress_percent_is_of_the_old_containers() -> None:
    p = views.progress_of(dep(progress={"status": "updating", "replaced": 1, "of": 4,
                                        "running": 4, "replicas": 4}))
    assert p is not None and p.percent == 25 and p.state == "updating"
    assert views.progress_of(dep(progress=None)) is None


def test_headers_that_could_carry_a_secret_are_never_shown() -> None:
    kept = views.shown_headers((("X-GitHub-Event", "push"), ("X-Hub-Signature-256", "sha256=1"),
                                ("X-Gitlab-Token", "t"), ("Authorization", "Bearer x"),
                                ("X-GitHub-Delivery", "abc")))
    assert kept == (("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "abc"))


@pytest.mark.parametrize(("source", "payload", "content_type", "commit", "compare"), [
    ("github", {"repository": {"html_url": "https://github.com/acme/shop"}}, "json",
     f"https://github.com/acme/shop/commit/{SHA}",
     f"https://github.com/acme/shop/compare/{BEFORE}...{SHA}"),
    ("gitlab", {"project": {"web_url": "https://gitlab.com/acme/shop/"}}, "json",
     f"https://gitlab.com/acme/shop/-/commit/{SHA}",
     f"https://gitlab.com/acme/shop/-/compare/{BEFORE}...{SHA}"),
    ("gitea", {"repository": {"html_url": "https://git.example.com/acme/shop"}}, "form",
     f"https://git.example.com/acme/shop/commit/{SHA}",
     f"https://git.example.com/acme/shop/compare/{BEFORE}...{SHA}"),
])
def test_links_to_the_host(source: str, payload: dict[str, object], content_type: str,
                           commit: str, compare: str) -> None:
    raw = json.dumps(payload)
    body = (urlencode({"payload": raw}) if content_type == "form" else raw).encode()
    ctype = "application/x-www-form-urlencoded" if content_type == "form" else "application/json"
    url = views.repository_url(source, body, ctype)
    assert views.commit_url(source, url, SHA) == commit
    assert views.compare_url(source, url, BEFORE, SHA) == compare
    assert views.compare_url(source, url, "0" * 40, SHA) is None  # a new branch


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://user:pw@host/x", "ftp://h/x",
                                 "//evil.example/x", 42])
def test_only_plain_http_links_are_made(url: object) -> None:
    body = json.dumps({"repository": {"html_url": url}}).encode()
    assert views.repository_url("github", body, "application/json") is None
    assert views.repository_url("github", b"not json", "application/json") is None


def test_a_session_cookie_is_signed_and_expires() -> None:
    signer = Signer(b"admin-token")
    value, session = signer.issue(now=1000.0, ttl_s=60)
    assert b"admin-token".decode() not in value and "admin-token" not in repr(signer)
    assert signer.verify(value, now=1059.0) == session
    assert signer.verify(value, now=1060.0) is None  # expired
    assert Signer(b"another-token").verify(value, now=1001.0) is None
    v, exp, sid, mac = value.split(".")
    assert signer.verify(f"{v}.{int(exp) + 3600}.{sid}.{mac}", now=1001.0) is None
    assert signer.verify("", now=0) is None and signer.verify("a.b", now=0) is None


def test_csrf_tokens_are_bound_to_the_session() -> None:
    signer = Signer(b"admin-token")
    token = signer.csrf("sid-a")
    assert signer.csrf_ok("sid-a", token)
    assert not signer.csrf_ok("sid-b", token)
    assert not signer.csrf_ok("sid-a", None) and not signer.csrf_ok(None, token)
    assert not signer.csrf_ok("sid-a", "é" * 10)
