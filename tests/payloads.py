"""Hand-written sample deliveries and their headers, for relay's tests.

These payloads are written for relay, not copied from vendor documentation (the vendor
examples in ../shared/fixtures carry their own licences and are only read by
test_fixtures_conformance.py). They follow the shapes of webhook-protocol.md: GitHub
section 1.5, GitLab sections 2.2-2.3, Gitea/Forgejo section 3.

Typical use::

    body = github_push(repo="acme/shop", ref="refs/heads/main")
    response = await client.post("/hooks/github", data=body, headers=github_headers(body))

Every builder returns compact JSON bytes (as GitHub sends them). `extra` overrides top-level
fields; a value of DROP removes the field.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus

from relay.events import sign_gitea, sign_github

__all__ = [
    "DROP",
    "GITLAB_TOKEN",
    "JSON",
    "FORM",
    "OTHER_SECRET",
    "SECRET",
    "ZERO40",
    "ZERO64",
    "encode",
    "form_encode",
    "gitea_headers",
    "gitea_push",
    "github_event",
    "github_headers",
    "github_ping",
    "github_push",
    "gitlab_headers",
    "gitlab_push",
    "new_delivery_id",
    "sha",
    "sign_gitea",
    "sign_github",
]

SECRET = b"relay-test-secret \xe2\x9c\x93"  # not ASCII on purpose: keys are bytes
OTHER_SECRET = b"relay-rotated-secret"
GITLAB_TOKEN = b"relay-test-gitlab-token"
ZERO40 = "0" * 40
ZERO64 = "0" * 64
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
DROP: Any = object()  # as a value in `extra`: remove the field
_AUTO: Any = object()


def sha(seed: str, *, length: int = 40) -> str:
    """A deterministic fake commit id: 40 hex digits (SHA-1 repos) or 64 (SHA-256 repos)."""
    digest = hashlib.sha256(seed.encode()).hexdigest() * 2
    return digest[:length]


def new_delivery_id() -> str:
    return str(uuid.uuid4())


def encode(payload: Mapping[str, Any]) -> bytes:
    """Compact JSON, as GitHub sends it."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def form_encode(json_body: bytes) -> bytes:
    """The application/x-www-form-urlencoded body `payload=<percent-encoded JSON>`."""
    return b"payload=" + quote_plus(json_body).encode("ascii")


def _apply(payload: dict[str, Any], extra: Mapping[str, Any] | None) -> bytes:
    for key, value in (extra or {}).items():
        if value is DROP:
            payload.pop(key, None)
        else:
            payload[key] = value
    return encode(payload)


def _is_zero(value: str) -> bool:
    return bool(value) and not value.strip("0")


def _commit(
    commit_id: str, *, message: str, timestamp: str, author: str, base_url: str
) -> dict[str, Any]:
    person = {"name": author.title(), "email": f"{author}@example.com", "username": author}
    return {
        "id": commit_id,
        "message": message,
        "timestamp": timestamp,
        "url": f"{base_url}/commit/{commit_id}",
        "author": person,
        "committer": person,
        "added": [],
        "removed": [],
        "modified": ["app/checkout.py"],
    }


def _commit_list(
    after: str, commits: Sequence[str] | None, message: str, timestamp: str, author: str, url: str
) -> list[dict[str, Any]]:
    """Commits oldest first, the pushed one last; none for a deletion."""
    ids = list(commits) if commits is not None else ([] if _is_zero(after) else [after])
    return [
        _commit(
            cid, message=message if cid == after else f"Prepare {cid[:7]}",
            timestamp=timestamp, author=author, base_url=url,
        )
        for cid in ids
    ]


def github_push(
    repo: str = "acme/shop",
    ref: str = "refs/heads/main",
    *,
    before: str | None = None,
    after: str | None = None,
    commits: Sequence[str] | None = None,
    forced: bool = False,
    pusher: str = "alice",
    message: str = "Make the checkout button bigger",
    timestamp: str = "2024-05-06T10:15:30+02:00",
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """A GitHub `push` payload. `created`/`deleted` follow from all-zero `before`/`after`;
    `head_commit` is the pushed commit (null for a deletion)."""
    before = sha(f"{repo}:{ref}:before") if before is None else before
    after = sha(f"{repo}:{ref}:after") if after is None else after
    url = f"https://github.com/{repo}"
    items = _commit_list(after, commits, message, timestamp, pusher, url)
    head = None if _is_zero(after) else _commit(
        after, message=message, timestamp=timestamp, author=pusher, base_url=url
    )
    owner, _, name = repo.partition("/")
    payload: dict[str, Any] = {
        "ref": ref,
        "before": before,
        "after": after,
        "created": _is_zero(before),
        "deleted": _is_zero(after),
        "forced": forced,
        "base_ref": None,
        "compare": f"{url}/compare/{before[:12]}...{after[:12]}",
        "commits": items,
        "head_commit": head,
        "repository": {
            "id": 4242,
            "name": name,
            "full_name": repo,
            "private": True,
            "owner": {"name": owner, "login": owner},
            "html_url": url,
            "clone_url": f"{url}.git",
            "default_branch": "main",
            "created_at": 1700000000,
            "pushed_at": 1714983330,
        },
        "pusher": {"name": pusher, "email": f"{pusher}@example.com"},
        "sender": {"login": pusher, "id": 7, "type": "User"},
    }
    return _apply(payload, extra)


def github_ping(*, hook_id: int = 30101, zen: str = "Keep the tests honest.") -> bytes:
    """A GitHub `ping`: sent when a webhook is created (section 1.4)."""
    return encode({
        "zen": zen,
        "hook_id": hook_id,
        "hook": {
            "type": "Repository", "id": hook_id, "name": "web", "active": True,
            "events": ["push"], "config": {"content_type": "json", "insecure_ssl": "0"},
        },
        "repository": {"full_name": "acme/shop"},
        "sender": {"login": "alice"},
    })


def github_event(action: str = "opened", **fields: Any) -> bytes:
    """Some event relay does not act on (e.g. `issues`): any JSON object will do."""
    return encode({"action": action, **fields})


def gitlab_push(
    repo: str = "acme/shop",
    ref: str = "refs/heads/main",
    *,
    before: str | None = None,
    after: str | None = None,
    checkout_sha: str | None = _AUTO,
    commits: Sequence[str] | None = None,
    object_kind: str | None = _AUTO,
    user_username: str = "alice",
    message: str = "Make the checkout button bigger",
    timestamp: str = "2024-05-06T10:15:30+02:00",
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """A GitLab `Push Hook` / `Tag Push Hook` payload (also the body of a system hook push).

    `object_kind` and `event_name` default to "push" or "tag_push" by the ref; pass
    object_kind=DROP to leave both out, as the system-hook doc examples do.
    `checkout_sha` defaults to `after`, or null for a deletion.
    """
    before = sha(f"{repo}:{ref}:before") if before is None else before
    after = sha(f"{repo}:{ref}:after") if after is None else after
    if checkout_sha is _AUTO:
        checkout_sha = None if _is_zero(after) else after
    if object_kind is _AUTO:
        object_kind = "tag_push" if ref.startswith("refs/tags/") else "push"
    url = f"https://gitlab.example.com/{repo}"
    items = _commit_list(after, commits, message, timestamp, user_username, url)
    payload: dict[str, Any] = {
        "object_kind": object_kind,
        "event_name": object_kind,
        "before": before,
        "after": after,
        "ref": ref,
        "ref_protected": True,
        "checkout_sha": checkout_sha,
        "message": None,
        "user_id": 11,
        "user_name": user_username.title(),
        "user_username": user_username,
        "user_email": "",
        "project_id": 77,
        "project": {
            "id": 77,
            "name": repo.rsplit("/", 1)[-1],
            "web_url": url,
            "git_http_url": f"{url}.git",
            "namespace": repo.rsplit("/", 1)[0],
            "path_with_namespace": repo,
            "default_branch": "main",
        },
        "commits": items,
        "total_commits_count": len(items),
        "push_options": {},
        "repository": {"name": repo.rsplit("/", 1)[-1], "homepage": url},
    }
    if object_kind is DROP:
        del payload["object_kind"], payload["event_name"]
    return _apply(payload, extra)


def gitea_push(
    repo: str = "acme/shop",
    ref: str = "refs/heads/main",
    *,
    before: str | None = None,
    after: str | None = None,
    commits: Sequence[str] | None = None,
    head_commit: bool = True,
    flags: bool = True,
    pusher: str = "alice",
    message: str = "Make the checkout button bigger",
    timestamp: str = "2024-05-06T10:15:30Z",
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """A Gitea/Forgejo `push` payload. head_commit=False or flags=False leave out
    `head_commit` or `created`/`deleted`/`forced`, as older Gitea versions do."""
    before = sha(f"{repo}:{ref}:before") if before is None else before
    after = sha(f"{repo}:{ref}:after") if after is None else after
    url = f"https://gitea.example.com/{repo}"
    items = _commit_list(after, commits, message, timestamp, pusher, url)
    user = {"id": 3, "login": pusher, "username": pusher, "email": f"{pusher}@example.com"}
    payload: dict[str, Any] = {
        "ref": ref,
        "before": before,
        "after": after,
        "compare_url": f"{url}/compare/{before}...{after}",
        "commits": items,
        "total_commits": len(items),
        "repository": {"id": 9, "name": repo.rsplit("/", 1)[-1], "full_name": repo,
                       "html_url": url, "clone_url": f"{url}.git"},
        "pusher": user,
        "sender": user,
    }
    if head_commit:
        payload["head_commit"] = None if _is_zero(after) else _commit(
            after, message=message, timestamp=timestamp, author=pusher, base_url=url
        )
    if flags:
        payload.update(created=_is_zero(before), deleted=_is_zero(after), forced=False)
    return _apply(payload, extra)


def github_headers(
    body: bytes,
    *,
    secret: bytes = SECRET,
    event: str = "push",
    delivery: str | None = None,
    content_type: str = JSON,
) -> dict[str, str]:
    """Headers GitHub sends for `body` (the bytes on the wire: for a form, the form body)."""
    return {
        "Content-Type": content_type,
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or new_delivery_id(),
        "X-GitHub-Hook-ID": "30101",
        "X-Hub-Signature-256": sign_github(secret, body),
    }


def gitlab_headers(
    *,
    token: bytes = GITLAB_TOKEN,
    event: str = "Push Hook",
    idempotency_key: str | None = _AUTO,
    content_type: str = JSON,
) -> dict[str, str]:
    """Headers GitLab sends (section 2.1). idempotency_key=None leaves it out (GitLab < 17.4);
    by default a fresh one. The per-attempt UUID headers are always fresh."""
    headers = {
        "Content-Type": content_type,
        "User-Agent": "GitLab/17.6.1",
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": token.decode("utf-8"),
        "X-Gitlab-Instance": "https://gitlab.example.com",
        "X-Gitlab-Webhook-UUID": new_delivery_id(),
        "X-Gitlab-Event-UUID": new_delivery_id(),
    }
    if idempotency_key is _AUTO:
        idempotency_key = new_delivery_id()
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


def gitea_headers(
    payload: bytes,
    *,
    secret: bytes = SECRET,
    event: str = "push",
    delivery: str | None = None,
    content_type: str = JSON,
    family: str = "Gitea",
) -> dict[str, str]:
    """Headers Gitea (family="Gitea") or Forgejo (family="Forgejo": X-Forgejo-* only) sends.

    Gitea signs the JSON `payload` itself, also when the body is form-encoded (section 3):
    pass the JSON here and send form_encode(payload) as the body.
    """
    return {
        "Content-Type": content_type,
        f"X-{family}-Event": event,
        f"X-{family}-Event-Type": event,
        f"X-{family}-Delivery": delivery or new_delivery_id(),
        f"X-{family}-Signature": sign_gitea(secret, payload),
    }
