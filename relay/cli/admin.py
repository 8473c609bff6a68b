"""`relay deployments`, `relay deploy`, `relay redeliver`: talk to a running relay's admin API.

The admin token comes from RELAY_ADMIN_TOKEN and is never printed; `--url` defaults to
RELAY_URL, else http://127.0.0.1:8080. Exit 0 on success, 1 when the operation failed (an
API error, or a followed deployment that did not succeed), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

import aiohttp

from relay.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail
from relay.cli.output import dump_json, pairs, table

TOKEN_ENV = "RELAY_ADMIN_TOKEN"
URL_ENV = "RELAY_URL"
DEFAULT_URL = "http://127.0.0.1:8080"
FINAL = {"succeeded", "failed", "timed_out", "superseded", "skipped", "error", "canceled"}


class AdminError(Exception):
    """The admin API answered an error, or could not be reached."""


def _common(*, suppress: bool) -> argparse.ArgumentParser:
    """Options every admin command takes. With `suppress`, a subcommand's copy leaves the
    value given before the subcommand name (`relay deployments --url X list`) alone."""
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=default(None),
                        help=f"relay's URL (default: ${URL_ENV} or {DEFAULT_URL})")
    common.add_argument("--json", action="store_true", default=default(False),
                        help="machine-readable output")
    common.add_argument("--timeout", type=float, default=default(10.0), metavar="S",
                        help="per-request timeout in seconds (default 10)")
    return common


def register(sub: Any) -> None:
    common = _common(suppress=False)
    deps = sub.add_parser("deployments", parents=[common],
                          help="list or show deployments of a running relay",
                          description="List or show deployments (admin token from "
                          f"${TOKEN_ENV}).")
    actions = deps.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("list", parents=[_common(suppress=True)], help="newest first")
    p.add_argument("--cluster", type=int, default=None)
    p.add_argument("--status", default=None, help="queued, rolling_out, succeeded, ...")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=_main, run=_list)
    p = actions.add_parser("show", parents=[_common(suppress=True)], help="one deployment")
    p.add_argument("id", type=int)
    p.set_defaults(func=_main, run=_show)
    _register_cancel(actions)

    p = sub.add_parser("deploy", parents=[common], help="deploy a version to a cluster by hand",
                       description="Queue a deliberate deployment (never skipped as older: "
                       "this is how a rollback is done).")
    p.add_argument("cluster", type=int)
    p.add_argument("version")
    p.add_argument("--action", choices=("version", "hook"), default="version")
    p.add_argument("--follow", action="store_true",
                   help="show progress until the deployment ends; exit 1 unless it succeeded")
    p.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    p.set_defaults(func=_main, run=_deploy)

    p = sub.add_parser("redeliver", parents=[common], help="process a stored delivery again",
                       description="Route a stored delivery again and queue its deployments.")
    p.add_argument("delivery_id")
    p.add_argument("--follow", action="store_true", help="follow the deployments it queues")
    p.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    p.set_defaults(func=_main, run=_redeliver)


def _main(args: argparse.Namespace) -> int:
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        return fail(f"set {TOKEN_ENV} to the admin token of the relay at {_url(args)}",
                    EXIT_USAGE)
    try:
        return asyncio.run(_with_session(args, token))
    except AdminError as exc:
        return fail(str(exc))


async def _with_session(args: argparse.Namespace, token: str) -> int:
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(timeout=timeout, headers=headers, trust_env=False) as s:
        api = AdminApi(s, _url(args))
        result: int = await args.run(api, args)
        return result


def _url(args: argparse.Namespace) -> str:
    return str(args.url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


class AdminApi:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._s = session
        self.url = url

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            async with self._s.request(method, self.url + path, json=body) as resp:
                text = await resp.text()
                data = _json(text)
                if resp.status >= 400:
                    msg = data.get("error") if isinstance(data, dict) else None
                    raise AdminError(f"{method} {path}: HTTP {resp.status}: "
                                     f"{msg or text.strip()[:200]}")
                return data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AdminError(f"relay at {self.url} is unreachable: "
                             f"{type(exc).__name__}: {exc}") from exc


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


async def _list(api: AdminApi, args: argparse.Namespace) -> int:
    query = [f"limit={args.limit}"]
    if args.cluster is not None:
        query.append(f"cluster={args.cluster}")
    if args.status:
        query.append(f"status={args.status}")
    data = await api.call("GET", "/api/deployments?" + "&".join(query))
    if args.json:
        dump_json(data)
        return EXIT_OK
    table(("ID", "CLUSTER", "ACTION", "STATUS", "VERSION", "CREATED", "FINISHED", "ERROR"),
          [(d["id"], d["cluster"], d["action"], d["status"], (d["version"] or "")[:12],
            d["created_at"], d["finished_at"], d["error"]) for d in data["deployments"]])
    return EXIT_OK


async def _show(api: AdminApi, args: argparse.Namespace) -> int:
    data = await api.call("GET", f"/api/deployments/{args.id}")
    if args.json:
        dump_json(data)
    else:
        pairs([(k, v) for k, v in data.items() if k != "progress"]
              + [("progress", _progress_text(data))])
    return EXIT_OK


async def _deploy(api: AdminApi, args: argparse.Namespace) -> int:
    body = {"cluster": args.cluster, "version": args.version, "action": args.action}
    dep = await api.call("POST", "/api/deployments", body)
    if not args.follow:
        dump_json(dep) if args.json else print(f"deployment {dep['id']} queued: cluster "
                                               f"{dep['cluster']} -> {dep['version']}")
        return EXIT_OK
    final = await follow_deployment(api, dep["id"], args.interval, quiet=args.json)
    if args.json:
        dump_json(final)
    return EXIT_OK if final["status"] == "succeeded" else EXIT_FAILED


async def _redeliver(api: AdminApi, args: argparse.Namespace) -> int:
    data = await api.call("POST", f"/api/deliveries/{args.delivery_id}/redeliver")
    deps = data["deployments"]
    if not args.follow:
        if args.json:
            dump_json(data)
        else:
            for d in deps:
                print(f"deployment {d['id']} queued: cluster {d['cluster']} -> {d['version']}")
        return EXIT_OK
    finals = [await follow_deployment(api, d["id"], args.interval, quiet=args.json) for d in deps]
    if args.json:
        dump_json({"delivery_id": data["delivery_id"], "deployments": finals})
    return EXIT_OK if all(f["status"] == "succeeded" for f in finals) else EXIT_FAILED


async def follow_deployment(api: AdminApi, dep_id: int, interval: float, *,
                            quiet: bool) -> dict[str, Any]:
    """Poll one deployment until it ends, printing each change of status or progress."""
    started = time.monotonic()
    last = None
    while True:
        dep = await api.call("GET", f"/api/deployments/{dep_id}")
        line = f"{dep['status']}{_progress_suffix(dep)}"
        if line != last and not quiet:
            print(f"[{time.monotonic() - started:5.1f}s] deployment {dep_id} cluster "
                  f"{dep['cluster']}: {line}", flush=True)
            last = line
        if dep["status"] in FINAL:
            if dep.get("error") and not quiet:
                print(f"  {dep['error']}", file=sys.stderr if dep["status"] != "succeeded"
                      else sys.stdout)
            return dict(dep)
        await asyncio.sleep(interval)


def _progress_suffix(dep: dict[str, Any]) -> str:
    text = _progress_text(dep)
    return f" ({text})" if text else ""


def _progress_text(dep: dict[str, Any]) -> str:
    p = dep.get("progress")
    if not p:
        return ""
    return (f"{p['replaced']}/{p['of']} containers replaced, "
            f"{p['running']}/{p['replicas']} running, cluster status {p['status']}")


# -- relay deployments cancel (issue 11) ------------------------------------------------------


def _register_cancel(actions: Any) -> None:
    p = actions.add_parser(
        "cancel", parents=[_common(suppress=True)], help="stop a queued or running deployment",
        description="End a queued, triggering or rolling deployment `canceled`: relay stops "
        "following it and does not touch the platform (a trigger already sent is not undone).")
    p.add_argument("id", type=int, help="the deployment's id")
    p.set_defaults(func=_main, run=_cancel)


async def _cancel(api: AdminApi, args: argparse.Namespace) -> int:
    data = await api.call("POST", f"/api/deployments/{args.id}/cancel")
    if args.json:
        dump_json(data)
    else:
        print(f"deployment {data['id']} canceled (cluster {data['cluster']})")
    return EXIT_OK
