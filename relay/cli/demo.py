"""`relay demo push`: send a correctly signed sample push to a running relay and follow it.

For a first run and for smoke tests: it builds a small push payload of the kind each git host
sends, signs it with the secret from the environment (the same variable the configuration
names), posts it, and follows the deployments it queued through the admin API.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp

from relay.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail
from relay.cli.admin import DEFAULT_URL, TOKEN_ENV, URL_ENV
from relay.cli.admin_client import AdminApi, AdminError, follow_deployment
from relay.events import sign_gitea, sign_github

FINAL_STATES = ("success", "failure", "error", "failed", "canceled")
SECRET_ENVS = {"github": "RELAY_GITHUB_SECRET", "gitlab": "RELAY_GITLAB_TOKEN",
               "gitea": "RELAY_GITEA_SECRET"}


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="try relay: send a signed sample push",
                          description="Helpers for a first run.")
    actions = demo.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "push", help="send a signed sample push and follow its deployments",
        description="Send a correctly signed sample push to a running relay, then follow the "
        "deployments it queued until they end (admin token from RELAY_ADMIN_TOKEN).",
        epilog="The signing secret is read from RELAY_GITHUB_SECRET, RELAY_GITLAB_TOKEN or "
        "RELAY_GITEA_SECRET (by --source), or from --secret-env. Exit 0 when every deployment "
        "succeeded, 1 otherwise.")
    p.add_argument("--url", default=None, help=f"relay's URL (default ${URL_ENV} or {DEFAULT_URL})")
    p.add_argument("--source", choices=sorted(SECRET_ENVS), default="github",
                   help="which git host's push to imitate (default github)")
    p.add_argument("--secret-env", default=None, metavar="VAR",
                   help="variable holding the signing secret (default by --source)")
    p.add_argument("--repo", default="acme/shop",
                   help="the pushed repository (default acme/shop, the demo config's)")
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--branch", default=None, help="the pushed branch (default: main)")
    ref.add_argument("--tag", default=None, help="push this tag instead of a branch")
    p.add_argument("--commit", default=None, help="the pushed commit (default: a random one)")
    p.add_argument("--no-follow", action="store_true", help="send only; do not follow")
    p.add_argument("--interval", type=float, default=0.5, metavar="S",
                   help="seconds between two polls while following (default 0.5)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for relay: each request, and how long a follow "
                   "keeps reconnecting (default 10)")
    p.set_defaults(func=_push)


def sample_push(source: str, *, repo: str, ref: str, commit: str) -> bytes:
    """A minimal but realistic push payload of `source`'s shape (pure)."""
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    before = hashlib.sha1(f"before-{commit}".encode()).hexdigest()  # noqa: S324 - an id
    head = {"id": commit, "message": "relay demo push", "timestamp": now,
            "author": {"name": "relay demo", "email": "demo@example.com"}}
    if source == "gitlab":
        payload: dict[str, Any] = {
            "object_kind": "tag_push" if ref.startswith("refs/tags/") else "push",
            "before": before, "after": commit, "ref": ref, "checkout_sha": commit,
            "user_username": "demo", "project": {"path_with_namespace": repo},
            "commits": [head], "total_commits_count": 1,
        }
    else:
        payload = {
            "ref": ref, "before": before, "after": commit, "created": False, "deleted": False,
            "forced": False, "commits": [head], "head_commit": head,
            "repository": {"full_name": repo}, "pusher": {"name": "demo", "login": "demo"},
        }
    return json.dumps(payload, separators=(",", ":")).encode()


def signed_headers(source: str, body: bytes, secret: str, *, tag: bool) -> dict[str, str]:
    delivery = str(uuid.uuid4())
    headers = {"Content-Type": "application/json"}
    if source == "github":
        headers.update({"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                        "X-Hub-Signature-256": sign_github(secret.encode(), body)})
    elif source == "gitea":
        headers.update({"X-Gitea-Event": "push", "X-Gitea-Delivery": delivery,
                        "X-Gitea-Signature": sign_gitea(secret.encode(), body)})
    else:
        headers.update({"X-Gitlab-Event": "Tag Push Hook" if tag else "Push Hook",
                        "X-Gitlab-Token": secret, "Idempotency-Key": delivery})
    return headers


def _push(args: argparse.Namespace) -> int:
    var = args.secret_env or SECRET_ENVS[args.source]
    secret = os.environ.get(var, "")
    if not secret:
        return fail(f"set {var} to the {args.source} secret the relay is configured with "
                    "(`make run` prints the demo values)", EXIT_USAGE)
    try:
        return asyncio.run(_send(args, secret))
    except AdminError as exc:
        return fail(str(exc))


async def _fake_records(session: aiohttp.ClientSession, url: str, source: str,
                        commit: str) -> list[dict[str, Any]] | None:
    """The commit statuses an embedded fake host received for `commit` (None: no fake)."""
    try:
        async with session.get(f"{url}/fake-git/{source}/statuses") as resp:
            if resp.status != 200:
                return None
            records = await resp.json()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return [r for r in records if isinstance(r, dict) and r.get("sha") == commit]


async def _print_reports(session: aiohttp.ClientSession, url: str, source: str, commit: str,
                         patience: float) -> None:
    """With `api.url: embedded`, print the statuses the fake host received, in order, once
    a final one arrived (the outbox sends them shortly after each status change)."""
    deadline = asyncio.get_running_loop().time() + patience
    found = await _fake_records(session, url, source, commit)
    while (found is not None and not any(r.get("state") in FINAL_STATES for r in found)
           and asyncio.get_running_loop().time() < deadline):
        await asyncio.sleep(0.5)
        found = await _fake_records(session, url, source, commit)
    if not found:
        return
    print(f"statuses the {source} fake received for {commit[:12]}, in order:")
    for r in found:
        print(f"  {r.get('state'):<8} {r.get('context')}  {r.get('description')}")


async def _send(args: argparse.Namespace, secret: str) -> int:
    url = str(args.url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
    ref = f"refs/tags/{args.tag}" if args.tag else f"refs/heads/{args.branch or 'main'}"
    commit = args.commit or secrets.token_hex(20)
    body = sample_push(args.source, repo=args.repo, ref=ref, commit=commit)
    headers = signed_headers(args.source, body, secret, tag=bool(args.tag))
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        try:
            async with session.post(f"{url}/hooks/{args.source}", data=body,
                                    headers=headers) as resp:
                status, answer = resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AdminError(f"relay at {url} is unreachable: {type(exc).__name__}: {exc}") from exc
        print(f"POST {url}/hooks/{args.source} ({args.repo} {ref} {commit[:12]}): HTTP {status}")
        print(f"  {answer.strip()}")
        if status >= 300:
            return EXIT_FAILED
        deployments = json.loads(answer).get("deployments", [])
        if args.no_follow or not deployments:
            return EXIT_OK
        token = os.environ.get(TOKEN_ENV, "")
        if not token:
            print(f"(set {TOKEN_ENV} to follow the deployments)")
            return EXIT_OK
        session.headers["Authorization"] = f"Bearer {token}"
        api = AdminApi(session, url)
        finals = [await follow_deployment(api, d["id"], args.interval, quiet=False,
                                          patience=args.timeout) for d in deployments]
        await _print_reports(session, url, args.source, commit, args.timeout)
    return EXIT_OK if all(f["status"] == "succeeded" for f in finals) else EXIT_FAILED
