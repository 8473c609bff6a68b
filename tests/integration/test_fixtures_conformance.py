"""The vendors' published example payloads (../shared/fixtures) parse to the expected events.

Each file is read, signed with a test secret (or token) and sent as the event its name
implies; the normalized result must equal the row of EXPECTED. The fixtures are read from
the shared folder, never copied here (licences: ../shared/fixtures/SOURCES.md). A fixture
added without a row fails test_every_fixture_has_a_row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.events import Delivery, EventKind, Source, parse_delivery
from tests.payloads import FORM, JSON, ZERO40, form_encode, github_headers, gitlab_headers

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
if not FIXTURES.is_dir():
    pytest.skip(f"vendor fixtures not found at {FIXTURES}", allow_module_level=True)

SECRET = b"conformance-secret"

GH_PUSH_AFTER = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
GH_CREATED = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
GL_AFTER = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
GL_BEFORE = "95790bf891e76fee5e1747ab589903a6a1f80f22"
GL_TAG_OBJECT = "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"
GL_TAG_COMMIT = "5937ac0a7beb003549fc5fd26fc247adbce4a52e"


@dataclass(frozen=True)
class Push:
    repository: str
    ref: str
    branch: str | None
    tag: str | None
    before: str
    after: str
    commit: str
    created: bool
    deleted: bool
    head: str | None  # head commit id
    head_at: datetime | None
    pusher: str | None
    forced: bool = False


@dataclass(frozen=True)
class Expected:
    kind: EventKind
    ignored: str | None
    push: Push | None = None


PING = Expected(EventKind.PING, "ping")
GH_TAG_DELETED = Expected(EventKind.TAG_PUSH, "tag deleted", Push(
    "Codertocat/Hello-World", "refs/tags/simple-tag", None, "simple-tag",
    GH_CREATED, ZERO40, ZERO40, created=False, deleted=True, head=None, head_at=None,
    pusher="Codertocat",
))
GH_BRANCH_CREATED = Expected(EventKind.PUSH, None, Push(
    "Codertocat/Hello-World", "refs/heads/master", "master", None,
    ZERO40, GH_CREATED, GH_CREATED, created=True, deleted=False, head=GH_CREATED,
    head_at=datetime(2019, 5, 15, 15, 19, 25, tzinfo=UTC), pusher="Codertocat",
))

EXPECTED: dict[str, Expected] = {
    "github/ping.json": PING,
    "github/ping-app-hook.json": PING,
    "github/ping-legacy-developer-docs.json": PING,
    "github/ping-organization-hook.json": PING,
    "github/push.json": Expected(EventKind.PUSH, None, Push(
        "baxterthehacker/public-repo", "refs/heads/changes", "changes", None,
        "9049f1265b7d61be4a8904a9a27120d2064dab3b", GH_PUSH_AFTER, GH_PUSH_AFTER,
        created=False, deleted=False, head=GH_PUSH_AFTER,
        head_at=datetime(2015, 5, 5, 23, 40, 15, tzinfo=UTC),  # 19:40:15-04:00
        pusher="baxterthehacker",
    )),
    "github/push-branch-created.json": GH_BRANCH_CREATED,
    "github/push-branch-created-committer-no-username.json": GH_BRANCH_CREATED,
    "github/push-tag-deleted.json": GH_TAG_DELETED,
    "github/push-tag-deleted-app-installation.json": GH_TAG_DELETED,
    "github/push-tag-deleted-organization.json": GH_TAG_DELETED,
    "github/push-tag-deleted-organization-compare-caret.json": GH_TAG_DELETED,
    "gitlab/push.json": Expected(EventKind.PUSH, None, Push(
        "mike/diaspora", "refs/heads/master", "master", None, GL_BEFORE, GL_AFTER, GL_AFTER,
        created=False, deleted=False, head=GL_AFTER,
        head_at=datetime(2012, 1, 3, 21, 36, 29, tzinfo=UTC),  # 23:36:29+02:00
        pusher="jsmith",
    )),
    "gitlab/push-tag.json": Expected(EventKind.TAG_PUSH, None, Push(
        "jsmith/example", "refs/tags/v1.0.0", None, "v1.0.0", ZERO40, GL_TAG_OBJECT,
        GL_TAG_OBJECT, created=True, deleted=False, head=None, head_at=None,
        pusher="John Smith",  # no user_username in this example
    )),
    # No object_kind in the system hook examples; its one commit is not `after`.
    "gitlab/system-hook-push.json": Expected(EventKind.PUSH, None, Push(
        "mike/diaspora", "refs/heads/master", "master", None, GL_BEFORE, GL_AFTER, GL_AFTER,
        created=False, deleted=False, head=None, head_at=None, pusher="John Smith",
    )),
    # Annotated tag: checkout_sha (the commit) is deployed, not `after` (the tag object).
    "gitlab/system-hook-tag-push.json": Expected(EventKind.TAG_PUSH, None, Push(
        "jsmith/example", "refs/tags/v1.0.0", None, "v1.0.0", ZERO40, GL_TAG_OBJECT,
        GL_TAG_COMMIT, created=True, deleted=False, head=None, head_at=None,
        pusher="John Smith",
    )),
}


def fixture_names() -> list[str]:
    return sorted(
        f"{path.parent.name}/{path.name}"
        for folder in ("github", "gitlab")
        for path in (FIXTURES / folder).glob("*.json")
    )


def gitlab_event(name: str, body: bytes) -> str:
    """The X-Gitlab-Event the file implies: System Hook by name, else by object_kind."""
    if name.startswith("gitlab/system-hook-"):
        return "System Hook"
    kind = json.loads(body).get("object_kind")
    return {"push": "Push Hook", "tag_push": "Tag Push Hook"}[kind]


def send(name: str, *, form: bool = False) -> Delivery:
    body = (FIXTURES / name).read_bytes()
    if name.startswith("github/"):
        event = "ping" if name.startswith("github/ping") else "push"
        wire = form_encode(body) if form else body
        headers = github_headers(wire, secret=SECRET, event=event, delivery="d-conformance",
                                 content_type=FORM if form else JSON)
        return parse_delivery(Source.GITHUB, headers, wire, [SECRET])
    headers = gitlab_headers(token=SECRET, event=gitlab_event(name, body), idempotency_key=None)
    return parse_delivery(Source.GITLAB, headers, body, [SECRET])


def normalized(delivery: Delivery) -> Expected:
    push = delivery.push
    if push is None:
        return Expected(delivery.event, delivery.ignored)
    head = push.head_commit
    return Expected(delivery.event, delivery.ignored, Push(
        push.repository, push.ref, push.branch, push.tag, push.before, push.after, push.commit,
        created=push.created, deleted=push.deleted, head=head.id if head else None,
        head_at=head.timestamp if head else None, pusher=push.pusher, forced=push.forced,
    ))


def test_every_fixture_has_a_row() -> None:
    assert fixture_names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_the_expected_event(name: str) -> None:
    assert normalized(send(name)) == EXPECTED[name]


@pytest.mark.parametrize("name", [n for n in sorted(EXPECTED) if n.startswith("github/")])
def test_github_fixture_form_encoded_gives_the_same_event(name: str) -> None:
    delivery = send(name, form=True)
    assert normalized(delivery) == EXPECTED[name]
    assert delivery.content_type == FORM and delivery.delivery_key == "d-conformance"


@pytest.mark.parametrize("name", [n for n in sorted(EXPECTED) if n.startswith("gitlab/")])
def test_gitlab_fixture_key_is_the_body_sha256_without_idempotency_key(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    assert send(name).delivery_key == hashlib.sha256(body).hexdigest()
