"""parse_delivery and event_kind_hint: every check, which error wins, and the normalized push.

Payloads are relay's own (tests/payloads.py); the vendor examples are exercised separately in
test_fixtures_conformance.py. Section numbers refer to ../shared/webhook-protocol.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from relay.events import (
    Delivery,
    EventKind,
    HeadCommit,
    Malformed,
    Source,
    Unauthorized,
    UnsupportedMediaType,
    WebhookError,
    event_kind_hint,
    parse_delivery,
)
from relay.signatures import sign_standard_webhook
from tests.payloads import (
    DROP,
    FORM,
    GITLAB_TOKEN,
    JSON,
    OTHER_SECRET,
    SECRET,
    ZERO40,
    ZERO64,
    encode,
    form_encode,
    gitea_headers,
    gitea_push,
    github_event,
    github_headers,
    github_ping,
    github_push,
    gitlab_headers,
    gitlab_push,
    sha,
    sign_gitea,
    sign_github,
)

AFTER = sha("after")
BEFORE = sha("before")
VECTOR_SECRET = b"It's a Secret to Everybody"
FORM_BODY = b"payload=%7B%22zen%22%3A%22Keep+it+logically+awesome.%22%2C%22hook_id%22%3A1%7D"
FORM_RAW_SIG = "fddacfb7d7106fd32f5d94dc8846df6694e2ed5e2aed3806b11ab82cccff8d01"
FORM_JSON_SIG = "ae8951f50ab87ba47d298c0511bb1d0d80b1ee963458ccef865aa62f53c0be7f"


def github(body: bytes, headers: Mapping[str, str] | None = None, **kw: Any) -> Delivery:
    return parse_delivery(Source.GITHUB, headers or github_headers(body, **kw), body, [SECRET])


def gitlab(body: bytes, headers: Mapping[str, str] | None = None, **kw: Any) -> Delivery:
    return parse_delivery(Source.GITLAB, headers or gitlab_headers(**kw), body, [GITLAB_TOKEN])


def gitea(body: bytes, headers: Mapping[str, str] | None = None, **kw: Any) -> Delivery:
    return parse_delivery(Source.GITEA, headers or gitea_headers(body, **kw), body, [SECRET])


def refusal(source: Source, headers: Mapping[str, str], body: bytes) -> WebhookError:
    secrets = [GITLAB_TOKEN] if source is Source.GITLAB else [SECRET]
    with pytest.raises(WebhookError) as caught:
        parse_delivery(source, headers, body, secrets)
    return caught.value


def signed_headers(source: Source, body: bytes, **kw: Any) -> dict[str, str]:
    if source is Source.GITHUB:
        return github_headers(body, **kw)
    if source is Source.GITLAB:
        return gitlab_headers(**kw)
    return gitea_headers(body, **kw)


def sample_push(source: Source) -> bytes:
    if source is Source.GITHUB:
        return github_push()
    return gitlab_push() if source is Source.GITLAB else gitea_push()


SOURCES = list(Source)


# -- the error classes ------------------------------------------------------------------------


def test_error_classes_carry_status_and_metric_outcome() -> None:
    assert (UnsupportedMediaType.status, UnsupportedMediaType.outcome) == (
        415, "unsupported_media_type"
    )
    assert (Unauthorized.status, Unauthorized.outcome) == (401, "unauthorized")
    assert (Malformed.status, Malformed.outcome) == (400, "malformed")
    assert Malformed("field 'ref' missing").message == "field 'ref' missing"


# -- media type (415) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON ;charset=UTF-8"],
)
@pytest.mark.parametrize("source", SOURCES)
def test_json_media_types_accepted(source: Source, content_type: str) -> None:
    body = sample_push(source)
    headers = signed_headers(source, body, content_type=content_type)
    delivery = parse_delivery(source, headers, body, [SECRET, GITLAB_TOKEN])
    assert delivery.event is EventKind.PUSH
    assert delivery.content_type == content_type  # as received, to forward it unchanged


@pytest.mark.parametrize(
    "content_type", [None, "", "text/plain", "application/jsonx", "multipart/form-data",
                     "application/vnd.github+json", "json"],
)
@pytest.mark.parametrize("source", SOURCES)
def test_other_media_types_are_415(source: Source, content_type: str | None) -> None:
    body = github_push()
    headers = signed_headers(source, body)
    del headers["Content-Type"]
    if content_type is not None:
        headers["Content-Type"] = content_type
    error = refusal(source, headers, body)
    assert isinstance(error, UnsupportedMediaType)
    assert "expected application/json or application/x-www-form-urlencoded" in error.message


# -- which error wins: 415, then 401, then 400 -------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
def test_415_beats_401_and_400(source: Source) -> None:
    headers = {"Content-Type": "text/xml"}  # no signature, no event, no delivery id
    assert isinstance(refusal(source, headers, b"<not json/>"), UnsupportedMediaType)


@pytest.mark.parametrize("source", SOURCES)
def test_401_beats_400(source: Source) -> None:
    # Not JSON, no event header, no delivery id: still "not signed" first.
    assert isinstance(refusal(source, {"Content-Type": JSON}, b"nope"), Unauthorized)
    wrong = {"token": b"wrong"} if source is Source.GITLAB else {"secret": b"wrong"}
    headers = signed_headers(source, b"nope", **wrong)
    assert isinstance(refusal(source, headers, b"nope"), Unauthorized)


@pytest.mark.parametrize("source", SOURCES)
def test_400_once_verified(source: Source) -> None:
    error = refusal(source, signed_headers(source, b"nope"), b"nope")
    assert isinstance(error, Malformed)
    assert error.message == "body is not valid JSON: Expecting value at line 1 column 1"


# -- GitHub signatures (sections 1.2, 1.3, 5) --------------------------------------------------


def test_github_official_vector_verifies() -> None:
    headers = {"Content-Type": JSON, "X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1",
               "X-Hub-Signature-256": sign_github(VECTOR_SECRET, b"Hello, World!")}
    assert headers["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    with pytest.raises(Malformed):  # verified, then refused for not being JSON
        parse_delivery(Source.GITHUB, headers, b"Hello, World!", [VECTOR_SECRET])


def _github_form_headers(signature: str) -> dict[str, str]:
    return {"Content-Type": FORM, "X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-form",
            "X-Hub-Signature-256": signature}


def test_github_form_is_signed_over_the_raw_body() -> None:
    delivery = parse_delivery(
        Source.GITHUB, _github_form_headers("sha256=" + FORM_RAW_SIG), FORM_BODY, [VECTOR_SECRET]
    )
    assert (delivery.event, delivery.ignored, delivery.content_type) == (
        EventKind.PING, "ping", FORM
    )
    with pytest.raises(Unauthorized, match="does not match any configured secret"):
        parse_delivery(
            Source.GITHUB, _github_form_headers("sha256=" + FORM_JSON_SIG), FORM_BODY,
            [VECTOR_SECRET],
        )


def test_github_form_push() -> None:
    body = form_encode(github_push(ref="refs/heads/release 2.0"))
    delivery = github(body, content_type=f"{FORM}; charset=utf-8")
    assert delivery.push is not None and delivery.push.branch == "release 2.0"


def test_second_of_two_secrets_verifies() -> None:
    body = github_push()
    headers = github_headers(body, secret=SECRET)
    assert parse_delivery(Source.GITHUB, headers, body, [OTHER_SECRET, SECRET]).push is not None
    with pytest.raises(Unauthorized):
        parse_delivery(Source.GITHUB, headers, body, [OTHER_SECRET])


def test_no_configured_secret_verifies_nothing() -> None:
    body = github_push()
    with pytest.raises(Unauthorized, match="no secret is configured"):
        parse_delivery(Source.GITHUB, github_headers(body), body, [])
    with pytest.raises(Unauthorized):
        parse_delivery(Source.GITHUB, github_headers(body, secret=b""), body, [b""])


def test_github_sha1_signature_alone_is_not_enough() -> None:
    body = github_push()
    headers = github_headers(body)
    headers["X-Hub-Signature"] = "sha1=" + hashlib.sha1(body).hexdigest()
    del headers["X-Hub-Signature-256"]
    assert refusal(Source.GITHUB, headers, body).message == "missing X-Hub-Signature-256 header"


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("", "empty X-Hub-Signature-256 header"),
        ("sha256=abc", "malformed X-Hub-Signature-256 header"),
        ("sha256=" + "0" * 64, "X-Hub-Signature-256 does not match any configured secret"),
    ],
)
def test_github_bad_signatures_are_401(signature: str, message: str) -> None:
    body = github_push()
    headers = {**github_headers(body), "X-Hub-Signature-256": signature}
    error = refusal(Source.GITHUB, headers, body)
    assert isinstance(error, Unauthorized) and error.message.startswith(message)


def test_signature_covers_every_byte() -> None:
    body = github_push()
    headers = github_headers(body)
    assert isinstance(refusal(Source.GITHUB, headers, body + b" "), Unauthorized)


def test_uppercase_hex_signature_accepted() -> None:
    body = github_push()
    headers = github_headers(body)
    headers["X-Hub-Signature-256"] = "sha256=" + headers["X-Hub-Signature-256"][7:].upper()
    assert github(body, headers).push is not None


@pytest.mark.parametrize("kind", ["lower", "upper", "multidict"])
def test_header_names_match_case_insensitively(kind: str) -> None:
    body = github_push()
    plain = github_headers(body, delivery="d-case")
    headers: Mapping[str, str]
    if kind == "lower":  # HTTP/2
        headers = {name.lower(): value for name, value in plain.items()}
    elif kind == "upper":
        headers = {name.upper(): value for name, value in plain.items()}
    else:
        headers = CIMultiDictProxy(CIMultiDict(plain))
    delivery = github(body, headers)
    assert delivery.delivery_key == "d-case"
    assert delivery.forward_headers == (("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "d-case"))


# -- GitHub events (sections 1.4-1.6) ----------------------------------------------------------


def test_github_branch_push_is_normalized() -> None:
    body = github_push("acme/shop", "refs/heads/main", before=BEFORE, after=AFTER,
                       commits=[sha("c1"), AFTER], pusher="alice", message="Bigger button",
                       timestamp="2015-05-05T19:40:15-04:00")
    delivery = github(body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert delivery.source is Source.GITHUB
    assert delivery.delivery_key == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert (delivery.event, delivery.event_name, delivery.ignored) == (EventKind.PUSH, "push", None)
    assert delivery.forward_headers == (
        ("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    )
    push = delivery.push
    assert push is not None
    assert (push.repository, push.ref, push.branch, push.tag) == (
        "acme/shop", "refs/heads/main", "main", None
    )
    assert (push.before, push.after, push.commit) == (BEFORE, AFTER, AFTER)
    assert (push.created, push.deleted, push.forced, push.pusher) == (False, False, False, "alice")
    assert push.head_commit == HeadCommit(
        AFTER, "Bigger button", datetime(2015, 5, 5, 23, 40, 15, tzinfo=UTC)
    )
    assert push.delivery_key == delivery.delivery_key and push.source is Source.GITHUB


def test_github_tag_push() -> None:
    delivery = github(github_push(ref="refs/tags/v1.2.0"))
    assert delivery.event is EventKind.TAG_PUSH and delivery.ignored is None
    assert delivery.push is not None
    assert (delivery.push.tag, delivery.push.branch) == ("v1.2.0", None)


def test_github_annotated_tag_deploys_the_commit_it_points_at() -> None:
    tag_object, target = sha("tag object"), sha("tagged commit")
    body = github_push(ref="refs/tags/v2", before=ZERO40, after=tag_object, commits=[],
                       extra={"head_commit": {"id": target, "message": "Release 2"}})
    push = github(body).push
    assert push is not None
    assert (push.after, push.commit, push.created) == (tag_object, target, True)
    assert push.head_commit == HeadCommit(target, "Release 2", None)


def test_github_branch_creation() -> None:
    delivery = github(github_push(ref="refs/heads/feature/x", before=ZERO40, commits=[]))
    assert delivery.ignored is None and delivery.push is not None
    assert (delivery.push.created, delivery.push.branch) == (True, "feature/x")
    assert delivery.push.commit == delivery.push.after


def test_github_forced_push() -> None:
    push = github(github_push(forced=True)).push
    assert push is not None and push.forced is True


@pytest.mark.parametrize("zero", [ZERO40, ZERO64, "0"])
@pytest.mark.parametrize(
    ("ref", "reason", "kind"),
    [("refs/heads/old", "branch deleted", EventKind.PUSH),
     ("refs/tags/v0.1", "tag deleted", EventKind.TAG_PUSH)],
)
def test_github_deletions_are_ignored(zero: str, ref: str, reason: str, kind: EventKind) -> None:
    delivery = github(github_push(ref=ref, after=zero))
    assert (delivery.event, delivery.ignored) == (kind, reason)
    assert delivery.push is not None and delivery.push.deleted is True
    assert delivery.push.head_commit is None


def test_github_deletion_without_deleted_flag_is_still_a_deletion() -> None:
    delivery = github(github_push(after=ZERO64, extra={"deleted": DROP, "created": DROP}))
    assert delivery.ignored == "branch deleted"


@pytest.mark.parametrize("ref", ["refs/notes/commits", "refs/pull/1/head", "main", "refs/heads/"])
def test_refs_that_are_neither_branch_nor_tag_are_ignored(ref: str) -> None:
    delivery = github(github_push(ref=ref))
    assert delivery.ignored == f"ref {ref} is not a branch or tag"
    assert delivery.push is not None and (delivery.push.branch, delivery.push.tag) == (None, None)


def test_push_without_a_commit_is_ignored() -> None:
    delivery = github(github_push(after="", extra={"head_commit": None}))
    assert delivery.ignored == "push has no commit to deploy"


def test_github_ping_is_ignored() -> None:
    delivery = github(github_ping(), event="ping")
    assert (delivery.event, delivery.event_name, delivery.ignored, delivery.push) == (
        EventKind.PING, "ping", "ping", None
    )


@pytest.mark.parametrize("event", ["issues", "create", "delete", "workflow_run"])
def test_github_other_events_are_verified_and_ignored(event: str) -> None:
    delivery = github(github_event(), event=event)
    assert (delivery.event, delivery.ignored, delivery.push) == (
        EventKind.OTHER, f"event '{event}' is not acted on", None
    )
    with pytest.raises(Unauthorized):
        github(github_event(), event=event, secret=b"wrong")


@pytest.mark.parametrize(
    ("drop", "message"),
    [("X-GitHub-Event", "missing X-GitHub-Event header"),
     ("X-GitHub-Delivery", "missing X-GitHub-Delivery header")],
)
def test_github_required_headers(drop: str, message: str) -> None:
    body = github_push()
    headers = github_headers(body)
    del headers[drop]
    error = refusal(Source.GITHUB, headers, body)
    assert isinstance(error, Malformed) and error.message == message
    headers[drop] = " "
    assert refusal(Source.GITHUB, headers, body).message == message


@pytest.mark.parametrize("value", ["d\u00e9livery", "id\x00", "a\udcff"])
def test_delivery_ids_must_be_printable_ascii(value: str) -> None:
    body = github_push()
    error = refusal(Source.GITHUB, {**github_headers(body), "X-GitHub-Delivery": value}, body)
    assert error.message == "malformed X-GitHub-Delivery header: expected printable ASCII"
    error = refusal(Source.GITLAB, gitlab_headers(idempotency_key=value), gitlab_push())
    assert error.message == "malformed Idempotency-Key header: expected printable ASCII"


def test_gitlab_token_with_undecodable_bytes_is_compared_not_crashed() -> None:
    # aiohttp hands over non-UTF-8 header bytes as surrogate escapes.
    token = b"t\xff\xfeken"
    headers = {**gitlab_headers(), "X-Gitlab-Token": token.decode("utf-8", "surrogateescape")}
    assert parse_delivery(Source.GITLAB, headers, gitlab_push(), [token]).push is not None
    with pytest.raises(Unauthorized):
        parse_delivery(Source.GITLAB, headers, gitlab_push(), [GITLAB_TOKEN])


def test_pusher_falls_back_to_sender() -> None:
    push = github(github_push(extra={"pusher": DROP, "sender": {"login": "bob"}})).push
    assert push is not None and push.pusher == "bob"
    push = github(github_push(extra={"pusher": 5, "sender": DROP})).push
    assert push is not None and push.pusher is None


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2015-05-05T19:40:15-04:00", datetime(2015, 5, 5, 23, 40, 15, tzinfo=UTC)),
        ("2011-12-12T14:27:31+02:00", datetime(2011, 12, 12, 12, 27, 31, tzinfo=UTC)),
        ("2019-05-15T15:19:25Z", datetime(2019, 5, 15, 15, 19, 25, tzinfo=UTC)),
        ("2019-05-15T15:19:25.250Z", datetime(2019, 5, 15, 15, 19, 25, 250000, tzinfo=UTC)),
        ("2019-05-15T15:19:25", datetime(2019, 5, 15, 15, 19, 25, tzinfo=UTC)),  # naive: UTC
        ("yesterday", None),
        ("2019-13-45T99:00:00Z", None),
        ("", None),
    ],
)
def test_commit_timestamps(timestamp: str, expected: datetime | None) -> None:
    push = github(github_push(timestamp=timestamp)).push
    assert push is not None and push.head_commit is not None
    assert push.head_commit.timestamp == expected
    if expected is not None:
        assert push.head_commit.timestamp is not None
        assert push.head_commit.timestamp.utcoffset() is not None


def test_timestamp_of_wrong_type_is_none_not_fatal() -> None:
    body = github_push(extra={"head_commit": {"id": AFTER, "timestamp": 1557933565}})
    push = github(body).push
    assert push is not None and push.head_commit == HeadCommit(AFTER, "", None)


# -- malformed bodies (400) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body is not valid JSON: Expecting value at line 1 column 1"),
        (b"{\n  \"ref\": }", "body is not valid JSON: Expecting value at line 2 column 10"),
        (b"[1, 2]", "body is an array in JSON, expected an object"),
        (b'"push"', "body is a string in JSON, expected an object"),
        (b"null", "body is null in JSON, expected an object"),
        (b"3.5", "body is a number in JSON, expected an object"),
        (b"\xff\xfe{", "body is not valid JSON: "),
        (b"[" * 100_000 + b"]" * 100_000, "body is not valid JSON: nested too deeply"),
        (b'{"n": ' + b"9" * 5000 + b"}", "body is not valid JSON: "),
    ],
)
def test_bodies_that_are_not_a_json_object(body: bytes, message: str) -> None:
    error = refusal(Source.GITHUB, github_headers(body), body)
    assert isinstance(error, Malformed)
    assert error.message.startswith(message)


def test_form_bodies_without_a_json_payload() -> None:
    body = b"zen=hello"
    error = refusal(Source.GITHUB, github_headers(body, content_type=FORM), body)
    assert error.message == "form body has no 'payload' field"
    body = b"payload=not+json"
    error = refusal(Source.GITHUB, github_headers(body, content_type=FORM), body)
    assert error.message == (
        "form field 'payload' is not valid JSON: Expecting value at line 1 column 1"
    )
    body = github_push()  # JSON sent with a form content type
    error = refusal(Source.GITHUB, github_headers(body, content_type=FORM), body)
    assert error.message == "form body has no 'payload' field"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"ref": DROP}, "field 'ref' missing"),
        ({"ref": None}, "field 'ref' missing"),
        ({"ref": 5}, "field 'ref' must be a string, not a number"),
        ({"before": DROP}, "field 'before' missing"),
        ({"before": ["x"]}, "field 'before' must be a string, not an array"),
        ({"after": DROP}, "field 'after' missing"),
        ({"after": False}, "field 'after' must be a string, not a boolean"),
        ({"repository": DROP}, "field 'repository' missing"),
        ({"repository": "acme/shop"}, "field 'repository' must be an object, not a string"),
        ({"repository": {"name": "shop"}}, "field 'repository.full_name' missing"),
        ({"repository": {"full_name": 5}}, "field 'repository.full_name' must be a string"),
        ({"head_commit": "abc"}, "field 'head_commit' must be an object, not a string"),
        ({"head_commit": {"message": "x"}}, "field 'head_commit.id' missing"),
        ({"commits": {"id": "x"}}, "field 'commits' must be an array, not an object"),
        ({"created": "yes"}, "field 'created' must be a boolean, not a string"),
        ({"deleted": 0}, "field 'deleted' must be a boolean, not a number"),
        ({"forced": {}}, "field 'forced' must be a boolean, not an object"),
    ],
)
def test_github_push_fields_of_the_wrong_shape(extra: dict[str, Any], message: str) -> None:
    body = github_push(extra=extra)
    error = refusal(Source.GITHUB, github_headers(body), body)
    assert isinstance(error, Malformed)
    assert error.message.startswith(message)


def test_optional_fields_may_be_absent_or_null() -> None:
    body = encode({"ref": "refs/heads/main", "before": BEFORE, "after": AFTER,
                   "repository": {"full_name": "acme/shop"}, "head_commit": None,
                   "commits": None, "created": None, "pusher": None})
    push = github(body).push
    assert push is not None
    assert (push.commit, push.head_commit, push.pusher, push.created) == (AFTER, None, None, False)


# -- error messages never carry a secret -------------------------------------------------------


def test_error_messages_never_contain_a_secret_or_the_expected_signature() -> None:
    secret = b"hunter2-the-real-secret"
    body = github_push()
    expected = sign_github(secret, body)
    attempts: list[tuple[Source, dict[str, str], bytes]] = [
        (Source.GITHUB, github_headers(body, secret=b"guess"), body),
        (Source.GITHUB, {**github_headers(body), "X-Hub-Signature-256": expected[:-2]}, body),
        (Source.GITHUB, github_headers(b"nope", secret=secret), b"nope"),
        (Source.GITEA, gitea_headers(body, secret=b"guess"), body),
        (Source.GITLAB, gitlab_headers(token=b"hunter2-the-real-secreT"), body),
        (Source.GITLAB, gitlab_headers(token=secret), b"[]"),
    ]
    for source, headers, payload in attempts:
        with pytest.raises(WebhookError) as caught:
            parse_delivery(source, headers, payload, [secret])
        text = f"{caught.value.message} {caught.value!r} {caught.value.args}"
        for forbidden in (secret.decode(), expected, expected[7:], sign_gitea(secret, body),
                          "hunter2-the-real-secreT", "guess"):
            assert forbidden not in text


# -- GitLab (section 2) ------------------------------------------------------------------------


def test_gitlab_push_is_normalized() -> None:
    body = gitlab_push("acme/platform/shop", "refs/heads/main", before=BEFORE, after=AFTER,
                       commits=[sha("c1"), AFTER], user_username="carol", message="Ship it",
                       timestamp="2011-12-12T14:27:31+02:00")
    delivery = gitlab(body, idempotency_key="9b2c4f1e-1111-4c4c-8888-000000000001")
    assert (delivery.source, delivery.event, delivery.event_name, delivery.ignored) == (
        Source.GITLAB, EventKind.PUSH, "Push Hook", None
    )
    assert delivery.delivery_key == "9b2c4f1e-1111-4c4c-8888-000000000001"
    assert delivery.forward_headers == (
        ("X-Gitlab-Event", "Push Hook"),
        ("Idempotency-Key", "9b2c4f1e-1111-4c4c-8888-000000000001"),
    )
    push = delivery.push
    assert push is not None
    assert (push.repository, push.branch, push.before, push.after, push.commit) == (
        "acme/platform/shop", "main", BEFORE, AFTER, AFTER
    )
    assert (push.created, push.deleted, push.forced, push.pusher) == (False, False, False, "carol")
    assert push.head_commit == HeadCommit(
        AFTER, "Ship it", datetime(2011, 12, 12, 12, 27, 31, tzinfo=UTC)
    )


def test_gitlab_pusher_falls_back_to_user_name() -> None:
    push = gitlab(gitlab_push(extra={"user_username": DROP, "user_name": "Dana"})).push
    assert push is not None and push.pusher == "Dana"


def test_gitlab_tag_push_deploys_checkout_sha() -> None:
    # Annotated tag: `after` is the tag object, checkout_sha the commit (section 2.3).
    tag_object, target = sha("tag object"), sha("tagged commit")
    body = gitlab_push(ref="refs/tags/v1.0.0", before=ZERO40, after=tag_object,
                       checkout_sha=target, commits=[sha("older"), target])
    delivery = gitlab(body, event="Tag Push Hook")
    assert (delivery.event, delivery.ignored) == (EventKind.TAG_PUSH, None)
    push = delivery.push
    assert push is not None
    assert (push.tag, push.after, push.commit, push.created) == ("v1.0.0", tag_object, target, True)
    assert push.head_commit is not None and push.head_commit.id == target


def test_gitlab_head_commit_absent_when_not_in_commits() -> None:
    push = gitlab(gitlab_push(commits=[sha("unrelated")])).push
    assert push is not None and push.head_commit is None and push.commit == push.after


def test_gitlab_without_checkout_sha_deploys_after() -> None:
    push = gitlab(gitlab_push(after=AFTER, checkout_sha=None)).push
    assert push is not None and push.commit == AFTER and push.head_commit is not None


def test_gitlab_key_is_idempotency_key_else_body_sha256() -> None:
    body = gitlab_push()
    first = gitlab(body, idempotency_key=None)
    again = gitlab(body, idempotency_key=None)  # fresh X-Gitlab-Event-UUID / -Webhook-UUID
    assert first.delivery_key == again.delivery_key == hashlib.sha256(body).hexdigest()
    assert first.forward_headers == (("X-Gitlab-Event", "Push Hook"),)
    assert gitlab(body, idempotency_key="k-1").delivery_key == "k-1"
    assert gitlab(body, idempotency_key="k-2").delivery_key == "k-2"
    assert gitlab(body, idempotency_key="").delivery_key == first.delivery_key


def test_gitlab_token_checks() -> None:
    body = gitlab_push()
    headers = gitlab_headers()
    del headers["X-Gitlab-Token"]
    assert refusal(Source.GITLAB, headers, body).message == "missing X-Gitlab-Token header"
    error = refusal(Source.GITLAB, {**headers, "X-Gitlab-Token": ""}, body)
    assert error.message.startswith("empty X-Gitlab-Token header")
    error = refusal(Source.GITLAB, gitlab_headers(token=b"wrong"), body)
    assert error.message == "X-Gitlab-Token does not match any configured token"
    rotated = parse_delivery(Source.GITLAB, gitlab_headers(), body, [b"old", GITLAB_TOKEN])
    assert rotated.push is not None


@pytest.mark.parametrize("zero", [ZERO40, ZERO64])
@pytest.mark.parametrize(
    ("ref", "event", "reason"),
    [("refs/heads/old", "Push Hook", "branch deleted"),
     ("refs/tags/v0", "Tag Push Hook", "tag deleted")],
)
def test_gitlab_deletions(zero: str, ref: str, event: str, reason: str) -> None:
    delivery = gitlab(gitlab_push(ref=ref, after=zero), event=event)
    assert delivery.ignored == reason
    assert delivery.push is not None and delivery.push.deleted and not delivery.push.created


def test_gitlab_creation_from_zero_before() -> None:
    push = gitlab(gitlab_push(before=ZERO64, commits=[])).push
    assert push is not None and (push.created, push.deleted, push.forced) == (True, False, False)


@pytest.mark.parametrize(
    ("object_kind", "extra", "ref", "kind"),
    [
        ("push", None, "refs/heads/main", EventKind.PUSH),
        ("tag_push", None, "refs/tags/v3", EventKind.TAG_PUSH),
        (DROP, {"event_name": "push"}, "refs/heads/main", EventKind.PUSH),  # doc examples
        (DROP, {"event_name": "tag_push"}, "refs/tags/v3", EventKind.TAG_PUSH),
        (DROP, None, "refs/tags/v3", EventKind.TAG_PUSH),  # neither: decided by `ref`
    ],
)
def test_gitlab_system_hook_pushes(
    object_kind: Any, extra: dict[str, Any] | None, ref: str, kind: EventKind
) -> None:
    body = gitlab_push(ref=ref, object_kind=object_kind, extra=extra)
    delivery = gitlab(body, event="System Hook")
    assert (delivery.event, delivery.event_name, delivery.ignored) == (kind, "System Hook", None)
    assert delivery.push is not None and delivery.push.repository == "acme/shop"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"event_name": "project_create", "path_with_namespace": "a/b"},
         "system hook event 'project_create' is not acted on"),
        ({"object_kind": "merge_request", "event_name": "merge_request"},
         "system hook event 'merge_request' is not acted on"),
        ({"event_name": "repository_update", "refs": ["refs/heads/main"]},
         "system hook event 'repository_update' is not acted on"),
        ({"name": "x"}, "system hook without object_kind or event_name is not acted on"),
    ],
)
def test_gitlab_other_system_hooks_are_ignored(payload: dict[str, Any], reason: str) -> None:
    delivery = gitlab(encode(payload), event="System Hook")
    assert (delivery.event, delivery.ignored, delivery.push) == (EventKind.OTHER, reason, None)


@pytest.mark.parametrize("event", ["Issue Hook", "Merge Request Hook", "Pipeline Hook"])
def test_gitlab_other_hooks_are_ignored(event: str) -> None:
    delivery = gitlab(encode({"object_kind": "issue"}), event=event)
    assert delivery.event is EventKind.OTHER
    assert delivery.ignored == f"event '{event}' is not acted on"


def test_gitlab_requires_the_event_header() -> None:
    headers = gitlab_headers()
    del headers["X-Gitlab-Event"]
    error = refusal(Source.GITLAB, headers, gitlab_push())
    assert isinstance(error, Malformed) and error.message == "missing X-Gitlab-Event header"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"project": DROP, "repository": DROP}, "field 'project.path_with_namespace' missing"),
        ({"project": "acme/shop"}, "field 'project' must be an object, not a string"),
        ({"project": {"id": 1}}, "field 'project.path_with_namespace' missing"),
        ({"project": {"path_with_namespace": 7}}, "field 'project.path_with_namespace' must be"),
        ({"project": DROP, "repository": {"homepage": 5}}, "field 'project.path_with_namespace'"),
        ({"checkout_sha": 12}, "field 'checkout_sha' must be a string, not a number"),
        ({"ref": 5}, "field 'ref' must be a string, not a number"),
        ({"commits": "none"}, "field 'commits' must be an array, not a string"),
    ],
)
def test_gitlab_push_fields_of_the_wrong_shape(extra: dict[str, Any], message: str) -> None:
    body = gitlab_push(extra=extra)
    error = refusal(Source.GITLAB, gitlab_headers(), body)
    assert isinstance(error, Malformed) and error.message.startswith(message)


def test_gitlab_legacy_payload_without_project_uses_repository_homepage() -> None:
    body = gitlab_push(extra={"project": DROP,
                              "repository": {"homepage": "https://git.example.com/acme/shop"}})
    push = gitlab(body).push
    assert push is not None and push.repository == "acme/shop"


def test_gitlab_form_encoded_is_accepted_like_json() -> None:
    # GitLab only sends JSON; CONTRACT section 4 accepts both media types on every endpoint.
    body = form_encode(gitlab_push())
    delivery = gitlab(body, content_type=FORM)
    assert delivery.push is not None and delivery.content_type == FORM


def test_gitlab_standard_webhooks_signature() -> None:
    whsec = b"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    body = gitlab_push()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    headers = gitlab_headers(idempotency_key="idem-1")
    del headers["X-Gitlab-Token"]
    headers.update({"webhook-id": "idem-1", "webhook-timestamp": str(int(now.timestamp()) - 60)})
    headers["webhook-signature"] = sign_standard_webhook(
        whsec, "idem-1", int(now.timestamp()) - 60, body
    )
    delivery = parse_delivery(Source.GITLAB, headers, body, [GITLAB_TOKEN, whsec], now=now)
    assert delivery.delivery_key == "idem-1" and delivery.push is not None
    assert all(name.lower() != "webhook-signature" for name, _ in delivery.forward_headers)
    with pytest.raises(Unauthorized, match="more than 5 minutes"):
        parse_delivery(Source.GITLAB, headers, body, [whsec], now=datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(Unauthorized, match="needs a clock"):
        parse_delivery(Source.GITLAB, headers, body, [whsec])


# -- Gitea / Forgejo (section 3) ---------------------------------------------------------------


def test_gitea_push_is_normalized() -> None:
    body = gitea_push("acme/shop", "refs/heads/main", before=BEFORE, after=AFTER, pusher="erin",
                      timestamp="2024-05-06T10:15:30Z", message="Gitea commit")
    delivery = gitea(body, delivery="gitea-task-1")
    assert (delivery.source, delivery.event, delivery.delivery_key, delivery.ignored) == (
        Source.GITEA, EventKind.PUSH, "gitea-task-1", None
    )
    assert delivery.forward_headers == (
        ("X-Gitea-Event", "push"), ("X-Gitea-Delivery", "gitea-task-1")
    )
    push = delivery.push
    assert push is not None and push.source is Source.GITEA
    assert (push.repository, push.branch, push.commit, push.pusher) == (
        "acme/shop", "main", AFTER, "erin"
    )
    assert push.head_commit == HeadCommit(
        AFTER, "Gitea commit", datetime(2024, 5, 6, 10, 15, 30, tzinfo=UTC)
    )


def test_gitea_older_payload_without_head_commit_or_flags() -> None:
    body = gitea_push(before=ZERO40, commits=[sha("a"), AFTER, sha("b")], after=AFTER,
                      head_commit=False, flags=False)
    push = gitea(body).push
    assert push is not None
    assert push.head_commit is not None and push.head_commit.id == AFTER
    assert (push.created, push.deleted, push.forced) == (True, False, False)


@pytest.mark.parametrize("zero", [ZERO40, ZERO64])
def test_gitea_deletion_without_flags(zero: str) -> None:
    delivery = gitea(gitea_push(ref="refs/tags/v1", after=zero, flags=False, head_commit=False))
    assert (delivery.event, delivery.ignored) == (EventKind.TAG_PUSH, "tag deleted")


@pytest.mark.parametrize("family", ["Forgejo", "Gogs"])
def test_gitea_alias_headers(family: str) -> None:
    body = gitea_push()
    delivery = gitea(body, family=family, delivery="d-alias")
    assert delivery.delivery_key == "d-alias"
    assert delivery.forward_headers == (
        (f"X-{family}-Event", "push"), (f"X-{family}-Delivery", "d-alias")
    )


def test_forgejo_signature_used_when_gitea_signature_empty() -> None:
    body = gitea_push()
    headers = {**gitea_headers(body, family="Forgejo"), "X-Gitea-Signature": ""}
    assert gitea(body, headers).push is not None


def test_gitea_empty_signature_means_unsigned() -> None:
    # Gitea sends the signature headers empty when the hook has no secret (section 3).
    body = gitea_push()
    headers = {**gitea_headers(body), "X-Gitea-Signature": "", "X-Gogs-Signature": "",
               "X-Hub-Signature-256": "sha256="}
    error = refusal(Source.GITEA, headers, body)
    assert isinstance(error, Unauthorized) and error.message.startswith("empty X-Gitea-Signature")
    del headers["X-Gitea-Signature"], headers["X-Gogs-Signature"]
    assert refusal(Source.GITEA, headers, body).message == "missing X-Gitea-Signature header"


def test_gitea_github_style_signature_is_not_accepted() -> None:
    body = gitea_push()
    headers = {**gitea_headers(body), "X-Gitea-Signature": sign_github(SECRET, body)}
    assert refusal(Source.GITEA, headers, body).message.startswith("malformed X-Gitea-Signature")


def test_gitea_form_is_signed_over_the_json_inside() -> None:
    headers = {"Content-Type": FORM, "X-Gitea-Event": "push", "X-Gitea-Delivery": "d-f",
               "X-Gitea-Signature": FORM_JSON_SIG}
    with pytest.raises(Malformed, match="field 'ref' missing"):  # verified: the vector's JSON
        parse_delivery(Source.GITEA, headers, FORM_BODY, [VECTOR_SECRET])
    headers["X-Gitea-Signature"] = FORM_RAW_SIG
    with pytest.raises(Unauthorized, match="does not match"):
        parse_delivery(Source.GITEA, headers, FORM_BODY, [VECTOR_SECRET])


def test_gitea_form_push() -> None:
    payload = gitea_push(ref="refs/heads/main")
    delivery = gitea(form_encode(payload), gitea_headers(payload, content_type=FORM))
    assert delivery.push is not None and delivery.push.branch == "main"


def test_gitea_form_without_payload() -> None:
    # Nothing signed was sent: unverifiable is 401; a sender that signed b"" gets 400.
    body = b"other=1"
    error = refusal(Source.GITEA, gitea_headers(body, content_type=FORM), body)
    assert isinstance(error, Unauthorized)
    error = refusal(Source.GITEA, gitea_headers(b"", content_type=FORM), body)
    assert isinstance(error, Malformed) and error.message == "form body has no 'payload' field"


@pytest.mark.parametrize(
    ("drop", "message"),
    [("X-Gitea-Event", "missing X-Gitea-Event header"),
     ("X-Gitea-Delivery", "missing X-Gitea-Delivery header")],
)
def test_gitea_required_headers(drop: str, message: str) -> None:
    body = gitea_push()
    headers = gitea_headers(body)
    del headers[drop]
    error = refusal(Source.GITEA, headers, body)
    assert isinstance(error, Malformed) and error.message == message


@pytest.mark.parametrize("event", ["pull_request", "create", "ping"])
def test_gitea_other_events_are_ignored(event: str) -> None:
    delivery = gitea(encode({"action": "opened"}), event=event)
    assert delivery.event is EventKind.OTHER
    assert delivery.ignored == f"event '{event}' is not acted on"


def test_gitea_pusher_username() -> None:
    push = gitea(gitea_push(extra={"pusher": {"username": "frank"}})).push
    assert push is not None and push.pusher == "frank"


# -- event_kind_hint --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "headers", "kind"),
    [
        (Source.GITHUB, {"X-GitHub-Event": "push"}, EventKind.PUSH),
        (Source.GITHUB, {"x-github-event": "ping"}, EventKind.PING),
        (Source.GITHUB, {"X-GitHub-Event": "issues"}, EventKind.OTHER),
        (Source.GITHUB, {}, EventKind.OTHER),
        (Source.GITLAB, {"X-Gitlab-Event": "Push Hook"}, EventKind.PUSH),
        (Source.GITLAB, {"x-gitlab-event": "Tag Push Hook"}, EventKind.TAG_PUSH),
        (Source.GITLAB, {"X-Gitlab-Event": "System Hook"}, EventKind.OTHER),
        (Source.GITLAB, {"X-Gitlab-Event": "Note Hook"}, EventKind.OTHER),
        (Source.GITLAB, {}, EventKind.OTHER),
        (Source.GITEA, {"X-Gitea-Event": "push"}, EventKind.PUSH),
        (Source.GITEA, {"X-Forgejo-Event": "push"}, EventKind.PUSH),
        (Source.GITEA, {"X-Gogs-Event": "push"}, EventKind.PUSH),
        (Source.GITEA, {"X-Gitea-Event": "issues"}, EventKind.OTHER),
        (Source.GITEA, {}, EventKind.OTHER),
    ],
)
def test_event_kind_hint(source: Source, headers: dict[str, str], kind: EventKind) -> None:
    assert event_kind_hint(source, headers) is kind
    assert event_kind_hint(source, CIMultiDictProxy(CIMultiDict(headers))) is kind


# -- values -----------------------------------------------------------------------------------


def test_delivery_is_frozen() -> None:
    delivery = github(github_push())
    with pytest.raises(AttributeError):
        delivery.ignored = "x"  # type: ignore[misc]


# -- what parse_delivery lets through is storable by both stores (issue 16) ------------------


@pytest.mark.parametrize("raw", [False, True], ids=["json-escape", "raw-bytes"])
def test_a_lone_surrogate_in_a_stored_field_is_malformed(raw: bool) -> None:
    escaped = github_push("acme/shop").replace(b"acme/shop", b"acme/\\ud800")
    body = escaped.replace(b"\\ud800", b"\xed\xa0\x80") if raw else escaped
    with pytest.raises(Malformed, match="'repository.full_name' contains a lone surrogate"):
        github(body)


def test_nul_in_a_stored_field_is_malformed() -> None:
    body = github_push(extra={"before": "\u0000"})
    with pytest.raises(Malformed, match="field 'before' contains a NUL character"):
        github(body)


def test_unstored_informational_text_may_hold_anything() -> None:
    body = github_push(message="a\u0000b\ud800", pusher="\ud800")
    delivery = github(body)
    assert delivery.push is not None and delivery.push.head_commit is not None
    assert delivery.push.head_commit.message == "a\u0000b\ud800"
