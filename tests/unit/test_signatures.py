"""Signing and verification primitives: vectors of webhook-protocol.md section 5, rotation,
constant-time comparison inputs, and what counts as missing, empty or malformed."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from relay.signatures import (
    SignatureError,
    first_header,
    fold_headers,
    form_payload,
    sign_gitea,
    sign_github,
    sign_standard_webhook,
    verify_delivery,
    verify_gitea,
    verify_github,
    verify_standard_webhook,
    verify_token,
)

GITHUB_SECRET = b"It's a Secret to Everybody"
GITHUB_VECTOR = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
FORM_BODY = b"payload=%7B%22zen%22%3A%22Keep+it+logically+awesome.%22%2C%22hook_id%22%3A1%7D"
FORM_JSON = b'{"zen":"Keep it logically awesome.","hook_id":1}'
FORM_RAW_SIG = "fddacfb7d7106fd32f5d94dc8846df6694e2ed5e2aed3806b11ab82cccff8d01"
FORM_JSON_SIG = "ae8951f50ab87ba47d298c0511bb1d0d80b1ee963458ccef865aa62f53c0be7f"

WHSEC = b"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
SW_ID = "3b1c6a6e-0d0e-4f43-9a57-6b2c7f9d1e10"
SW_TS = 1767225600
SW_BODY = b'{"object_kind":"push"}'
SW_SIG = "v1,EgdA7z+3JHrvstL1QWO4L3zpOTYl0ylZ1P8TzYA3Cdo="
SW_NOW = datetime.fromtimestamp(SW_TS, UTC)


def test_github_official_vector() -> None:
    assert sign_github(GITHUB_SECRET, b"Hello, World!") == GITHUB_VECTOR
    verify_github(GITHUB_VECTOR, b"Hello, World!", [GITHUB_SECRET])


def test_form_vectors_are_the_documented_ones() -> None:
    assert form_payload(FORM_BODY) == FORM_JSON
    assert sign_github(GITHUB_SECRET, FORM_BODY) == "sha256=" + FORM_RAW_SIG
    assert sign_gitea(GITHUB_SECRET, FORM_JSON) == FORM_JSON_SIG


def test_github_accepts_uppercase_hex_and_prefix() -> None:
    verify_github("SHA256=" + GITHUB_VECTOR[7:].upper(), b"Hello, World!", [GITHUB_SECRET])


def test_second_of_two_secrets_verifies() -> None:
    verify_github(GITHUB_VECTOR, b"Hello, World!", [b"old secret", GITHUB_SECRET])
    verify_gitea("X-Gitea-Signature", FORM_JSON_SIG, FORM_JSON, [b"old", GITHUB_SECRET])
    verify_token("X-Gitlab-Token", "new-token", [b"old-token", b"new-token"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "missing X-Hub-Signature-256 header"),
        ("", "empty X-Hub-Signature-256 header"),
        ("   ", "empty X-Hub-Signature-256 header"),
        (GITHUB_VECTOR[7:], "malformed X-Hub-Signature-256 header"),  # no prefix
        ("sha1=7d38cdd689735b008b3c702edd92eea23791c5f6", "malformed X-Hub-Signature-256"),
        (GITHUB_VECTOR[:-1], "malformed X-Hub-Signature-256 header"),  # 63 digits
        (GITHUB_VECTOR + "0", "malformed X-Hub-Signature-256 header"),  # 65 digits
        ("sha256=" + "zz" * 32, "malformed X-Hub-Signature-256 header"),
        ("sha256=" + " ".join(["ab"] * 32), "malformed X-Hub-Signature-256 header"),
        ("sha256=" + "ab" * 32, "X-Hub-Signature-256 does not match any configured secret"),
    ],
)
def test_github_refusals(value: str | None, message: str) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_github(value, b"Hello, World!", [GITHUB_SECRET])
    assert message in caught.value.message


def test_no_secret_verifies_nothing() -> None:
    # An empty HMAC key is one anybody can use: it is never a configured secret.
    empty_key_sig = sign_github(b"", b"body")
    for secrets in ([], [b""]):
        with pytest.raises(SignatureError, match="no secret is configured"):
            verify_github(empty_key_sig, b"body", secrets)
        with pytest.raises(SignatureError, match="no secret is configured"):
            verify_token("X-Gitlab-Token", "anything", secrets)


def test_gitea_signature_is_bare_hex() -> None:
    verify_gitea("X-Gitea-Signature", FORM_JSON_SIG.upper(), FORM_JSON, [GITHUB_SECRET])
    with pytest.raises(SignatureError, match="malformed X-Gitea-Signature"):
        verify_gitea("X-Gitea-Signature", "sha256=" + FORM_JSON_SIG, FORM_JSON, [GITHUB_SECRET])
    with pytest.raises(SignatureError, match="does not match any configured secret"):
        verify_gitea("X-Gitea-Signature", FORM_RAW_SIG, FORM_JSON, [GITHUB_SECRET])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "missing X-Gitlab-Token header"),
        ("", "empty X-Gitlab-Token header"),
        ("token", "X-Gitlab-Token does not match any configured token"),
        ("tokenX", "X-Gitlab-Token does not match any configured token"),
        ("toke", "X-Gitlab-Token does not match any configured token"),
    ],
)
def test_token_refusals(value: str | None, message: str) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_token("X-Gitlab-Token", value, [b"Token"])
    assert caught.value.message.startswith(message)


def test_standard_webhooks_vector() -> None:
    assert sign_standard_webhook(WHSEC, SW_ID, SW_TS, SW_BODY) == SW_SIG
    verify_standard_webhook(
        SW_BODY, [WHSEC], msg_id=SW_ID, timestamp=str(SW_TS), signature=SW_SIG, now=SW_NOW
    )


def test_standard_webhooks_any_listed_v1_entry_verifies() -> None:
    listed = f"v1a,AAAA v1,{base64.b64encode(b'x' * 32).decode()} v1,not-base64! {SW_SIG}"
    verify_standard_webhook(
        SW_BODY, [b"plain-token", WHSEC], msg_id=SW_ID, timestamp=str(SW_TS),
        signature=listed, now=SW_NOW + timedelta(minutes=5),
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"msg_id": None}, "missing webhook-id header"),
        ({"timestamp": None}, "missing webhook-timestamp header"),
        ({"timestamp": "soon"}, "malformed webhook-timestamp header"),
        ({"timestamp": "-1767225600"}, "malformed webhook-timestamp header"),
        ({"now": SW_NOW + timedelta(seconds=301)}, "more than 5 minutes away"),
        ({"now": SW_NOW - timedelta(seconds=301)}, "more than 5 minutes away"),
        ({"signature": "v1a,AAAA"}, "malformed webhook-signature header"),
        ({"secrets": [b"plain-token"]}, "no whsec_ signing token is configured"),
        ({"secrets": [b"whsec_!!!"]}, "no whsec_ signing token is configured"),
        ({"msg_id": "another-id"}, "does not match any configured signing token"),
        ({"body": b'{"object_kind":"tag_push"}'}, "does not match any configured signing token"),
    ],
)
def test_standard_webhooks_refusals(changes: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "body": SW_BODY, "secrets": [WHSEC], "msg_id": SW_ID, "timestamp": str(SW_TS),
        "signature": SW_SIG, "now": SW_NOW, **changes,
    }
    with pytest.raises(SignatureError, match=message):
        verify_standard_webhook(**args)  # type: ignore[arg-type]


def test_sign_standard_webhook_needs_a_whsec_token() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        sign_standard_webhook(b"plain", SW_ID, SW_TS, SW_BODY)


def test_gitlab_token_wins_over_webhook_signature() -> None:
    # A wrong X-Gitlab-Token is not rescued by a valid signature: the token is checked alone.
    headers = {
        "x-gitlab-token": "wrong", "webhook-id": SW_ID, "webhook-timestamp": str(SW_TS),
        "webhook-signature": SW_SIG,
    }
    with pytest.raises(SignatureError, match="X-Gitlab-Token does not match"):
        verify_delivery("gitlab", headers, SW_BODY, SW_BODY, [WHSEC], now=SW_NOW)
    del headers["x-gitlab-token"]
    verify_delivery("gitlab", headers, SW_BODY, SW_BODY, [WHSEC], now=SW_NOW)
    with pytest.raises(SignatureError, match="needs a clock"):
        verify_delivery("gitlab", headers, SW_BODY, SW_BODY, [WHSEC])


def test_unknown_source_is_refused() -> None:
    with pytest.raises(SignatureError, match="unknown source 'bitbucket'"):
        verify_delivery("bitbucket", {}, b"", b"", [b"k"])


def test_form_payload_decoding() -> None:
    assert form_payload(b"a=1&payload=%7B%7D&payload=x") == b"{}"
    assert form_payload(b"pay%6Coad=%E2%9C%93+%2B") == "\u2713 +".encode()
    assert form_payload(b"payload=") == b""
    assert form_payload(b"payload") == b""
    assert form_payload(b'{"zen":"x"}') is None
    assert form_payload(b"") is None


def test_fold_headers_first_of_repeats_wins() -> None:
    class Repeats(dict[str, str]):
        def items(self) -> Iterator[tuple[str, str]]:  # type: ignore[override]
            return iter([("X-Event", "first"), ("x-event", "second"), ("Other", "v")])

    assert fold_headers(Repeats()) == {"x-event": "first", "other": "v"}


def test_first_header_prefers_non_blank_values() -> None:
    names = ("X-Gitea-Signature", "X-Forgejo-Signature", "X-Gogs-Signature")
    assert first_header({"x-forgejo-signature": "ab"}, names) == ("X-Forgejo-Signature", "ab")
    assert first_header({"x-gitea-signature": "", "x-gogs-signature": "cd"}, names) == (
        "X-Gogs-Signature", "cd"
    )
    assert first_header({"x-forgejo-signature": " "}, names) == ("X-Forgejo-Signature", " ")
    assert first_header({}, names) == ("X-Gitea-Signature", None)
