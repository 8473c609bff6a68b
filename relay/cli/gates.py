"""`relay pause`, `relay resume`, `relay holds list`, `relay quarantine list|clear`: the deploy
gates of a running relay (docs/gates.md) through its admin API.

Same options, token and exit statuses as relay.cli.admin (0 done, 1 failed, 2 bad usage).
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from relay.cli import EXIT_OK
from relay.cli.admin import _common, _main
from relay.cli.admin_client import AdminApi
from relay.cli.output import dump_json, table


def register(sub: Any) -> None:
    """Add `pause`, `resume`, `holds` and `quarantine` to the `relay` parser."""
    common = _common(suppress=False)
    sub_common = _common(suppress=True)
    p = sub.add_parser("pause", parents=[common], help="hold a cluster by hand",
                       description="Pause a cluster: deployments from git hosts wait `held` "
                       "until it is resumed (or until --until); rollouts in flight finish.")
    p.add_argument("cluster", type=int, help="the cluster id")
    p.add_argument("--reason", required=True, help="why (shown in holds list, audited)")
    p.add_argument("--until", default=None, metavar="TIME",
                   help="ISO 8601 time with a timezone when the pause ends by itself")
    p.set_defaults(func=_main, run=_pause)
    p = sub.add_parser("resume", parents=[common], help="end a cluster's pause",
                       description="Resume a paused cluster: its newest held deployment is "
                       "released (unless a scheduled hold still covers it).")
    p.add_argument("cluster", type=int, help="the cluster id")
    p.set_defaults(func=_main, run=_resume)

    holds = sub.add_parser("holds", parents=[common], help="what holds clusters now and next")
    actions = holds.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("list", parents=[sub_common], help="active holds and the next windows")
    p.set_defaults(func=_main, run=_holds)

    q = sub.add_parser("quarantine", parents=[common],
                       help="commits quarantined after a failed deployment")
    actions = q.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("list", parents=[sub_common], help="every quarantined commit")
    p.set_defaults(func=_main, run=_quarantine)
    p = actions.add_parser("clear", parents=[sub_common], help="lift a quarantine")
    p.add_argument("cluster", type=int, help="the cluster id")
    p.add_argument("version", help="the quarantined commit SHA")
    p.set_defaults(func=_main, run=_clear)


async def _pause(api: AdminApi, args: argparse.Namespace) -> int:
    data = await api.call("POST", f"/api/clusters/{args.cluster}/pause",
                          {"reason": args.reason, "until": args.until})
    if args.json:
        dump_json(data)
    else:
        until = data["until"] or "resumed"
        print(f"cluster {data['cluster']} paused until {until}: {data['reason']}")
    return EXIT_OK


async def _resume(api: AdminApi, args: argparse.Namespace) -> int:
    data = await api.call("POST", f"/api/clusters/{args.cluster}/resume")
    if args.json:
        dump_json(data)
    else:
        print(f"cluster {data['cluster']} resumed")
    return EXIT_OK


async def _holds(api: AdminApi, args: argparse.Namespace) -> int:
    data = await api.call("GET", "/api/holds")
    if args.json:
        dump_json(data)
        return EXIT_OK
    table(("CLUSTER", "KIND", "NAME", "REASON", "SINCE", "UNTIL"),
          [(a["cluster"], a["kind"], a["name"], a["reason"], a["since"], a["until"] or "resumed")
           for a in data["active"]])
    if data["next"]:
        print()
        table(("NEXT HOLD", "STARTS", "ENDS", "CLUSTERS", "REPOS"),
              [(n["name"], n["starts_at"], n["ends_at"],
                ",".join(str(c) for c in n["clusters"] or ()) or "-",
                ",".join(n["repos"] or ()) or "-") for n in data["next"]])
    return EXIT_OK


async def _quarantine(api: AdminApi, args: argparse.Namespace) -> int:
    data = await api.call("GET", "/api/quarantine")
    if args.json:
        dump_json(data)
        return EXIT_OK
    table(("CLUSTER", "VERSION", "DEPLOYMENT", "SINCE", "REASON"),
          [(e["cluster"], e["version"], e["deployment_id"], e["created_at"], e["reason"])
           for e in data["quarantine"]], keep=("VERSION",))
    return EXIT_OK


async def _clear(api: AdminApi, args: argparse.Namespace) -> int:
    data = await api.call("DELETE",
                          f"/api/quarantine/{args.cluster}/{quote(args.version, safe='')}")
    if args.json:
        dump_json(data)
    else:
        print(f"quarantine of {data['version']} on cluster {data['cluster']} lifted")
    return EXIT_OK
