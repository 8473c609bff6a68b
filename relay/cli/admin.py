"""`relay deployments`, `deploy`, `rollback`, `redeliver`, `deliveries`: a running relay's
admin API from the command line.

The admin token comes from RELAY_ADMIN_TOKEN and is never printed; `--url` defaults to
RELAY_URL, else http://127.0.0.1:8080. Exit 0 on success (a deployment of the version that
already runs is a success: "nothing to do"), 1 when the operation failed (an API error, an
unreachable relay, a followed deployment that did not succeed), 2 on bad usage, whether
argparse or the admin API (HTTP 400) found it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from relay.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail
from relay.cli.admin_client import (
    FINAL,
    AdminApi,
    AdminError,
    ApiError,
    follow_deployment,
    is_nothing_to_do,
    progress_text,
    succeeded,
)
from relay.cli.output import age, dump_json, pairs, status_colour, table
from relay.cli.rollback import NothingToRollBackTo, plan_rollback

__all__ = ["FINAL", "AdminApi", "AdminError", "follow_deployment", "is_nothing_to_do",
           "register"]

TOKEN_ENV = "RELAY_ADMIN_TOKEN"
URL_ENV = "RELAY_URL"
DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_S = 30.0
SHORT_VERSION = 12
ROLLBACK_SCAN = 500  # deployments of one cluster read to find the rollback target
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _common(*, suppress: bool) -> argparse.ArgumentParser:
    """Options every admin command takes. With `suppress`, a subcommand's copy leaves the
    value given before the subcommand name (`relay deployments --url X list`) alone."""
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=default(None),
                        help=f"relay's URL (default: ${URL_ENV} or {DEFAULT_URL})")
    common.add_argument("--json", action="store_true", default=default(False),
                        help="machine-readable output (full values; same as -o json)")
    common.add_argument("--timeout", type=float, default=default(DEFAULT_TIMEOUT_S),
                        metavar="S",
                        help="seconds to wait for relay: each request, and how long a follow "
                        f"keeps reconnecting while relay is unreachable (default "
                        f"{DEFAULT_TIMEOUT_S:g})")
    return common


def _output_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", choices=("table", "wide", "json"), default="table",
                   help="table (short versions, cut to the terminal), wide (every column, "
                   "full values) or json")


def _follow_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--follow", action="store_true",
                   help=f"show progress until {what} ends; exit 1 unless it succeeded "
                   "(or its version already ran there)")
    p.add_argument("--interval", type=float, default=1.0, metavar="S",
                   help="seconds between two polls while following (default 1)")


def register(sub: Any) -> None:
    common = _common(suppress=False)
    sub_common = _common(suppress=True)
    deps = sub.add_parser("deployments", parents=[common],
                          help="list, show or wait for deployments of a running relay",
                          description="List, show or wait for deployments (admin token from "
                          f"${TOKEN_ENV}).")
    actions = deps.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("list", parents=[sub_common], help="newest first",
                           description="List deployments, newest first, one page at a time.")
    p.add_argument("--cluster", type=int, default=None, help="only this cluster id")
    p.add_argument("--status", default=None,
                   help="only this status: queued, rolling_out, succeeded, failed, ...")
    p.add_argument("--repo", default=None, help="only this repository (owner/name)")
    p.add_argument("--kind", choices=("push", "manual", "redelivery", "rollback", "catch_up"),
                   default=None, help="only deployments from a push, by hand, a redelivery, "
                   "an automatic rollback or a catch-up")
    p.add_argument("--since", type=_since, default=None, metavar="WHEN",
                   help="only those created since: a duration (90s, 30m, 2h, 7d) or an "
                   "ISO 8601 time")
    p.add_argument("--limit", type=int, default=20, help="page size (default 20, at most 500)")
    p.add_argument("--before-id", type=int, default=None, metavar="ID",
                   help="the next page: the id printed after the previous one")
    _output_option(p)
    p.set_defaults(func=_main, run=_list)
    p = actions.add_parser("show", parents=[sub_common], help="one deployment, full values")
    p.add_argument("id", type=int, help="the deployment id")
    p.set_defaults(func=_main, run=_show)
    p = actions.add_parser("wait", parents=[sub_common],
                           help="follow a deployment until it ends (re-attach)",
                           description="Follow a deployment until it ends, as deploy "
                           "--follow does; exit 0 if it succeeded, 1 otherwise.")
    p.add_argument("id", type=int, help="the deployment id")
    p.add_argument("--interval", type=float, default=1.0, metavar="S",
                   help="seconds between two polls (default 1)")
    p.set_defaults(func=_main, run=_wait)
    _register_cancel(actions)

    p = sub.add_parser("deploy", parents=[common], help="deploy a version to a cluster by hand",
                       description="Queue a deliberate deployment (never skipped as older: "
                       "this is how a rollback is done). A version that already runs there "
                       "ends with 'nothing to do' and exit 0.")
    p.add_argument("cluster", type=int, help="the cluster id (a route must name it)")
    p.add_argument("version", help="the full commit SHA, or 7+ characters of one relay "
                   "deployed to this cluster before")
    p.add_argument("--action", choices=("version", "hook"), default=None,
                   help="how to trigger (default: the action of the route naming the cluster)")
    p.add_argument("--override-hold", default=None, metavar="REASON",
                   help="deploy even though a hold (freeze, pause) covers the cluster; the "
                   "reason is recorded and audited")
    _follow_options(p, "the deployment")
    p.set_defaults(func=_main, run=_deploy)

    p = sub.add_parser("rollback", parents=[common],
                       help="deploy the version that ran before the current one",
                       description="Deploy, deliberately, the version of the newest succeeded "
                       "deployment before the cluster's current one.")
    p.add_argument("cluster", type=int, help="the cluster id")
    p.add_argument("--dry-run", action="store_true",
                   help="say what would be deployed and stop")
    _follow_options(p, "the rollback")
    p.set_defaults(func=_main, run=_rollback)

    p = sub.add_parser("redeliver", parents=[common], help="process a stored delivery again",
                       description="Route a stored delivery again and queue its deployments.")
    p.add_argument("delivery_id", help="the delivery id (relay deliveries list shows them)")
    _follow_options(p, "every deployment it queues")
    p.set_defaults(func=_main, run=_redeliver)

    dels = sub.add_parser("deliveries", parents=[common],
                          help="list or show the webhook deliveries relay stored",
                          description="List or show stored deliveries (admin token from "
                          f"${TOKEN_ENV}).")
    actions = dels.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("list", parents=[sub_common], help="newest first",
                           description="List deliveries, newest first, one page at a time.")
    p.add_argument("--source", choices=("github", "gitlab", "gitea"), default=None,
                   help="only this git host")
    p.add_argument("--repo", default=None, help="only this repository (owner/name)")
    p.add_argument("--event", default=None, help="only this event kind (push, ping, ...)")
    p.add_argument("--since", type=_since, default=None, metavar="WHEN",
                   help="only those received since: a duration (30m, 2h, 7d) or an ISO time")
    p.add_argument("--limit", type=int, default=20, help="page size (default 20, at most 500)")
    p.add_argument("--cursor", default=None, help="the next page: the cursor printed after "
                   "the previous one")
    _output_option(p)
    p.set_defaults(func=_main, run=_list_deliveries)
    p = actions.add_parser("show", parents=[sub_common],
                           help="one delivery and the deployments it caused")
    p.add_argument("delivery_id", help="the delivery id")
    p.set_defaults(func=_main, run=_show_delivery)


def _since(text: str) -> str:
    """A duration (`2h`) or an ISO 8601 time -> an ISO time with a Z (argparse type)."""
    match = _DURATION.fullmatch(text.strip())
    if match:
        delta = timedelta(seconds=int(match[1]) * _UNITS[match[2]])
        return (datetime.now(UTC) - delta).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (30m, 2h, 7d) nor an ISO 8601 time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


def _main(args: argparse.Namespace) -> int:
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        return fail(f"set {TOKEN_ENV} to the admin token of the relay at {_url(args)}",
                    EXIT_USAGE)
    try:
        return asyncio.run(_with_session(args, token))
    except ApiError as exc:
        return fail(str(exc), EXIT_USAGE if exc.status == 400 else EXIT_FAILED)
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


def _mode(args: argparse.Namespace) -> str:
    return "json" if args.json else str(getattr(args, "output", "table"))


async def _follow(api: AdminApi, args: argparse.Namespace, dep_id: int) -> dict[str, Any]:
    return await follow_deployment(api, dep_id, args.interval, quiet=args.json,
                                   patience=args.timeout)


# -- deployments ------------------------------------------------------------------------------


async def _list(api: AdminApi, args: argparse.Namespace) -> int:
    data = await api.call("GET", "/api/deployments", query={
        "limit": args.limit, "cluster": args.cluster, "status": args.status, "repo": args.repo,
        "kind": args.kind, "since": args.since, "before_id": args.before_id})
    mode = _mode(args)
    if mode == "json":
        dump_json(data)
        return EXIT_OK
    deps = data["deployments"]
    if mode == "wide":
        table(("ID", "CLUSTER", "KIND", "ACTION", "STATUS", "VERSION", "REPO", "REF",
               "CREATED", "FINISHED", "ERROR"),
              [(d["id"], d["cluster"], d.get("kind"), d["action"], d["status"], d["version"],
                d["repo"], d["ref"], d["created_at"], d["finished_at"], d["error"])
               for d in deps], keep=("ID", "VERSION"), colour=status_colour)
    else:
        table(("ID", "CLUSTER", "KIND", "STATUS", "VERSION", "AGE", "ERROR"),
              [(d["id"], d["cluster"], d.get("kind"), d["status"],
                (d["version"] or "")[:SHORT_VERSION], age(d["created_at"]), d["error"])
               for d in deps], colour=status_colour)
    if data.get("next") is not None:
        print(f"more: --before-id {data['next']}", file=sys.stderr)
    return EXIT_OK


async def _show(api: AdminApi, args: argparse.Namespace) -> int:
    data = await api.call("GET", f"/api/deployments/{args.id}")
    if args.json:
        dump_json(data)
    else:
        pairs([(k, v) for k, v in data.items() if k != "progress"]
              + [("progress", progress_text(data))])
    return EXIT_OK


async def _wait(api: AdminApi, args: argparse.Namespace) -> int:
    final = await _follow(api, args, args.id)
    if args.json:
        dump_json(final)
    return EXIT_OK if succeeded(final) else EXIT_FAILED


async def _deploy(api: AdminApi, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"cluster": args.cluster, "version": args.version}
    if args.action is not None:
        body["action"] = args.action
    if getattr(args, "override_hold", None) is not None:
        body.update(override_hold=True, reason=args.override_hold)
    dep = await api.call("POST", "/api/deployments", body)
    return await _queued(api, args, dep)


async def _queued(api: AdminApi, args: argparse.Namespace, dep: dict[str, Any]) -> int:
    """Report a queued deployment, then follow it when asked."""
    if not args.json:
        note = f" (expanded from {dep['expanded_from']})" if dep.get("expanded_from") else ""
        print(f"deployment {dep['id']} queued: cluster {dep['cluster']} -> {dep['version']}"
              f"{note}, action {dep['action']}", flush=True)
    if not args.follow:
        if args.json:
            dump_json(dep)
        return EXIT_OK
    final = await _follow(api, args, dep["id"])
    if args.json:
        dump_json(final)
    return EXIT_OK if succeeded(final) else EXIT_FAILED


async def _rollback(api: AdminApi, args: argparse.Namespace) -> int:
    deps: list[dict[str, Any]] = []
    before_id = None
    while len(deps) < ROLLBACK_SCAN:
        page = await api.call("GET", "/api/deployments", query={
            "cluster": args.cluster, "limit": 100, "before_id": before_id})
        deps.extend(page["deployments"])
        before_id = page.get("next")
        if before_id is None:
            break
    try:
        plan = plan_rollback(deps)
    except NothingToRollBackTo as exc:
        return fail(f"cluster {args.cluster}: nothing to roll back to: {exc}")
    cur, tgt = plan.current, plan.target
    print(f"rolling cluster {args.cluster} back from {cur['version']} (deployment "
          f"{cur['id']}, {cur['status']}) to {tgt['version']} (deployment {tgt['id']}, "
          f"succeeded {tgt['finished_at'] or tgt['created_at']})", flush=True)
    if args.dry_run:
        return EXIT_OK
    dep = await api.call("POST", "/api/deployments",
                         {"cluster": args.cluster, "version": tgt["version"]})
    return await _queued(api, args, dep)


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
    finals = [await _follow(api, args, d["id"]) for d in deps]
    if args.json:
        dump_json({"delivery_id": data["delivery_id"], "deployments": finals})
    return EXIT_OK if all(succeeded(f) for f in finals) else EXIT_FAILED


# -- deliveries -------------------------------------------------------------------------------


async def _list_deliveries(api: AdminApi, args: argparse.Namespace) -> int:
    data = await api.call("GET", "/api/deliveries", query={
        "limit": args.limit, "source": args.source, "repo": args.repo, "event": args.event,
        "since": args.since, "cursor": args.cursor})
    mode = _mode(args)
    if mode == "json":
        dump_json(data)
        return EXIT_OK
    rows = data["deliveries"]
    wide = mode == "wide"
    table(("DELIVERY", "SOURCE", "EVENT", "REPO", "REF", "COMMIT", "IGNORED",
           "RECEIVED" if wide else "AGE"),
          [(d["delivery_id"], d["source"], d["event"], d["repo"], d["ref"],
            d["commit"] if wide else (d["commit"] or "")[:SHORT_VERSION], d["ignored"],
            d["received_at"] if wide else age(d["received_at"])) for d in rows],
          keep=("DELIVERY", "COMMIT") if wide else ("DELIVERY",))
    if data.get("next") is not None:
        print(f"more: --cursor {data['next']}", file=sys.stderr)
    return EXIT_OK


async def _show_delivery(api: AdminApi, args: argparse.Namespace) -> int:
    data = await api.call("GET", f"/api/deliveries/{args.delivery_id}")
    if args.json:
        dump_json(data)
        return EXIT_OK
    pairs([(k, v) for k, v in data.items() if k != "deployments"])
    print()
    table(("ID", "CLUSTER", "KIND", "STATUS", "VERSION", "ERROR"),
          [(d["id"], d["cluster"], d.get("kind"), d["status"], d["version"], d["error"])
           for d in data["deployments"]], keep=("ID", "VERSION"), colour=status_colour)
    return EXIT_OK


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
