"""Realistic signed GitHub push deliveries for the benchmarks (pure: bytes in, bytes out)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from relay.signatures import sign_github

SECRET = "bench-github-secret"
API_TOKEN = "bench-api-token"
ADMIN_TOKEN = "bench-admin-token"
REPO = "bench/app"
TARGET_BYTES = 4096
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)


def sha(seed: str) -> str:
    """A deterministic 40-hex commit id."""
    return hashlib.sha1(seed.encode()).hexdigest()  # noqa: S324 - an id, not a digest


def push_body(*, repo: str = REPO, ref: str = "refs/heads/main", seq: int = 0,
              target_bytes: int = TARGET_BYTES) -> bytes:
    """A GitHub push of about `target_bytes`: several commits, file lists, a repository block.

    `seq` orders pushes: commit `seq` builds on commit `seq - 1` and its head commit is one
    second younger, so relay can tell which push is the newest.
    """
    after, before = sha(f"{repo}-{seq}"), sha(f"{repo}-{seq - 1}")
    when = (EPOCH + timedelta(seconds=seq)).isoformat()
    commits: list[dict[str, Any]] = []
    payload: dict[str, Any] = {
        "ref": ref, "before": before, "after": after, "created": False, "deleted": False,
        "forced": False, "base_ref": None, "compare": f"https://github.com/{repo}/compare/x",
        "commits": commits, "head_commit": None,
        "repository": _repository(repo), "pusher": {"name": "bench", "email": "b@example.com"},
        "sender": {"login": "bench", "id": 1, "type": "User", "site_admin": False},
    }
    n = 0
    while True:
        commit = _commit(f"{repo}-{seq}-{n}", when, repo)
        commits.append(commit)
        n += 1
        if len(json.dumps(payload, separators=(",", ":"))) + 500 >= target_bytes or n > 50:
            break
    commits[-1] = head = _commit(f"{repo}-{seq}", when, repo, commit_id=after)
    payload["head_commit"] = head
    return json.dumps(payload, separators=(",", ":")).encode()


def github_headers(body: bytes, delivery: str, secret: str = SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign_github(secret.encode(), body)}


def _commit(seed: str, when: str, repo: str, *, commit_id: str | None = None) -> dict[str, Any]:
    cid = commit_id or sha(seed)
    author = {"name": "Bench Author", "email": "author@example.com", "username": "bench"}
    return {
        "id": cid, "tree_id": sha("tree" + seed), "distinct": True,
        "message": f"Change {seed[-12:]}: adjust the request handling and its tests",
        "timestamp": when, "url": f"https://github.com/{repo}/commit/{cid}",
        "author": author, "committer": author,
        "added": [f"src/module_{seed[-3:]}/new_file.py"],
        "removed": [], "modified": ["src/app/handlers.py", "tests/test_handlers.py"],
    }


def _repository(repo: str) -> dict[str, Any]:
    owner, name = repo.split("/", 1)
    return {
        "id": 123456789, "name": name, "full_name": repo, "private": True,
        "owner": {"name": owner, "login": owner, "id": 42, "type": "Organization"},
        "html_url": f"https://github.com/{repo}", "default_branch": "main",
        "clone_url": f"https://github.com/{repo}.git", "ssh_url": f"git@github.com:{repo}.git",
        "master_branch": "main", "organization": owner,
    }


SHA_HOLE = "@@SHA@@"
BRANCH_HOLE = "@@BRANCH@@"


def push_template(*, repo: str = REPO) -> bytes:
    """push_body with two holes that wrk fills per request: SHA_HOLE (the head commit id:
    `after`, `head_commit.id`, its URL) and BRANCH_HOLE (in `ref`)."""
    body = push_body(repo=repo, ref=f"refs/heads/{BRANCH_HOLE}", seq=0).decode()
    return body.replace(sha(f"{repo}-0"), SHA_HOLE).encode()


def fill(template: bytes, commit: str, branch: str) -> bytes:
    """The body wrk sends for one pool entry (the same substitution as bench/ingest.lua)."""
    return template.replace(SHA_HOLE.encode(), commit.encode()).replace(
        BRANCH_HOLE.encode(), branch.encode())
