"""Pure admin API input checks: strict bodies, versions and short SHAs, client addresses."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime

import pytest
from multidict import MultiDict, MultiDictProxy

from relay.admin_input import (
    InputError,
    check_query,
    client_address,
    deployment_kind,
    expand_version,
    json_object,
    since_value,
    text_value,
    version_value,
)
from relay.store.admin_reads import decode_cursor, encode_cursor

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [("203.0.113.5", None, "203.0.113.5"),
     ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # untrusted peer: its header is ignored
     ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
     ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.9", "198.51.100.1"),  # forged left part
     ("10.0.0.2", "10.0.0.3, 10.0.0.4", "10.0.0.3"),  # all trusted: the first
     ("10.0.0.2", "not-an-ip", "10.0.0.2"),
     ("10.0.0.2", "", "10.0.0.2"),
     ("::1", "2001:db8::7", "2001:db8::7"),
     (None, "198.51.100.1", "unknown")])
def test_client_address(peer: str | None, xff: str | None, expected: str) -> None:
    assert client_address(peer, xff, PROXIES) == expected


def test_client_address_trusts_nobody_by_default() -> None:
    assert client_address("10.0.0.2", "198.51.100.1", ()) == "10.0.0.2"


def test_json_object_names_every_unknown_field() -> None:
    with pytest.raises(InputError, match="'actoin', 'extra'"):
        json_object(b'{"cluster": 1, "actoin": "hook", "extra": 1}',
                    allowed=("cluster", "version", "action"))


@pytest.mark.parametrize("raw", [b"[" * 100_000, b"{" * 50_000, b"\xff", b"[]", b"1"])
def test_json_object_refuses_what_is_no_object(raw: bytes) -> None:
    with pytest.raises(InputError):
        json_object(raw, allowed=())


def test_check_query_names_unknown_and_repeated_parameters() -> None:
    with pytest.raises(InputError, match="'offset'"):
        check_query(MultiDictProxy(MultiDict([("offset", "5")])), allowed=("limit",))
    with pytest.raises(InputError, match="more than once"):
        check_query(MultiDictProxy(MultiDict([("limit", "5"), ("limit", "6")])),
                    allowed=("limit",))


@pytest.mark.parametrize("version", ["a" * 40, "v1.2.3", "release/2026-11", "1234", "  ab12345 "])
def test_versions_that_are_commit_ish(version: str) -> None:
    assert version_value(version) == version.strip()


@pytest.mark.parametrize("version", ["\ud800", "", "a b", "-x", "é", "a\x00", "x" * 256, 7])
def test_versions_that_are_not(version: object) -> None:
    with pytest.raises(InputError, match="version"):
        version_value(version)


def test_expand_version() -> None:
    full = "abcdef0" + "1" * 33
    assert expand_version(full, ()).version == full
    assert expand_version("v1.2", ()).version == "v1.2"
    assert expand_version("1234567", ()).version == "1234567"  # a revision, not a SHA
    got = expand_version("abcdef0", (full,))
    assert got.version == full and got.expanded_from == "abcdef0"
    with pytest.raises(InputError, match="at least 7"):
        expand_version("abcdef", (full,))
    with pytest.raises(InputError, match="ambiguous"):
        expand_version("abcdef0", (full, "abcdef0" + "2" * 33))
    with pytest.raises(InputError, match="full 40-character SHA"):
        expand_version("abcdef9", (full,))


def test_since_needs_a_timezone() -> None:
    assert since_value("2026-11-29T10:00:00Z").tzinfo is not None
    with pytest.raises(InputError, match="timezone"):
        since_value("2026-11-29T10:00:00")
    # found by the property run of tests/integration/test_openapi.py:
    with pytest.raises(InputError, match="out of range"):
        since_value("0001-01-01T00:00:00+01:00")


def test_a_cursor_out_of_range_is_no_cursor() -> None:
    assert decode_cursor(encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), "github-1")) == (
        datetime(2026, 1, 1, tzinfo=UTC), "github-1")
    crafted = base64.urlsafe_b64encode(b"0001-01-01T00:00:00+01:00|x").decode()
    assert decode_cursor(crafted) is None
    assert decode_cursor("!!") is None


def test_deployment_kind() -> None:
    assert deployment_kind(False, "github-1") == "push"
    assert deployment_kind(True, None) == "manual"
    assert deployment_kind(True, "github-1") == "redelivery"


@pytest.mark.parametrize("value", ["", "a\x00b", "a\nb", "\ud800", "x" * 256, "\x7f"])
def test_text_no_store_can_hold_is_refused(value: str) -> None:
    with pytest.raises(InputError, match="repo"):
        text_value(value, "repo")


def test_text_value_keeps_ordinary_text() -> None:
    assert text_value("acme/shop", "repo") == "acme/shop"
    assert text_value("ünïcode", "repo") == "ünïcode"
