"""`relay clusters ...`: the cluster API (docs/cluster-api.md) from the command line.

The token comes from RELAY_API_TOKEN and is never printed; `--api-url` defaults to
RELAY_API_URL, else the simulator's default address. Exit 0 on success, 1 on an API error
(one line: HTTP status, platform code and message), 2 on bad usage or a bad --file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from relay.cli import EXIT_OK, EXIT_USAGE, fail
from relay.cli.output import dump_json, pairs, table
from relay.cluster import (
    Cluster,
    ClusterApiError,
    ClusterClient,
    Container,
    Image,
    ImageConstraint,
    RetryPolicy,
    ServerError,
    Unavailable,
    open_session,
    to_jsonable,
)
from relay.logs import configure_logging
from relay.secret import Secret

TOKEN_ENV = "RELAY_API_TOKEN"
URL_ENV = "RELAY_API_URL"
DEFAULT_URL = "http://127.0.0.1:8090"
# Interactive use: a few quick retries, never the service's 45 s budget.
CLI_RETRY = RetryPolicy(attempts=3, total_s=10.0)

Action = Callable[[ClusterClient, argparse.Namespace], Awaitable[int]]


class UsageError(Exception):
    """Bad input found before any request: exit 2."""


# --- parser ------------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add `relay clusters` and its subcommands to the `relay` parser."""
    group = sub.add_parser("clusters", parents=[_common(suppress=False)],
                           help="talk to the cluster API (token from RELAY_API_TOKEN)")
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add(name: str, action: Action, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(
            name, parents=[_common(suppress=True)], help=help_text, description=help_text)
        parser.set_defaults(func=run, run_action=action)
        return parser

    add("images", _images, "list the custom and public images")
    p = add("list", _list, "list clusters: one page (at most 30) or --all")
    p.add_argument("--limit", type=_ranged(1, 30), default=None, metavar="N",
                   help="page size, 1..30 (default 20)")
    p.add_argument("--offset", type=_ranged(0, None), default=None, metavar="N",
                   help="clusters to skip (default 0)")
    p.add_argument("--all", action="store_true", help="every page")
    add("get", _get, "show one cluster").add_argument("id", type=_ranged(0, None),
                                                      help="the cluster id")
    p = add("create", _create, "create a cluster from a JSON spec")
    p.add_argument("--file", required=True, metavar="F", help="spec JSON file, - for stdin")
    p = add("update", _update, "update a cluster with a JSON patch")
    p.add_argument("id", type=_ranged(0, None), help="the cluster id")
    p.add_argument("--file", required=True, metavar="F", help="patch JSON file, - for stdin")
    add("delete", _delete, "delete a cluster").add_argument("id", type=_ranged(0, None),
                                                            help="the cluster id")
    p = add("resize", _resize, "set a cluster's replica count")
    p.add_argument("id", type=_ranged(0, None), help="the cluster id")
    p.add_argument("replicas", type=_ranged(0, None), help="the number of containers wanted")
    p = add("watch", _watch, "long-poll a cluster's containers (prints on change or timeout)")
    p.add_argument("id", type=_ranged(0, None), help="the cluster id")
    p.add_argument("--follow", action="store_true", help="repeat until interrupted")
    p.add_argument("--wait", type=_positive, default=None, metavar="S",
                   help="how long the server may hold the watch (sent as ?timeout=)")


def _common(*, suppress: bool) -> argparse.ArgumentParser:
    """Options accepted both before and after the action (sub-level ones win)."""
    parser = argparse.ArgumentParser(add_help=False)

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--api-url", metavar="URL", default=default(None),
                        help=f"cluster API base URL (default: ${URL_ENV} or {DEFAULT_URL})")
    parser.add_argument("--json", action="store_true", default=default(False),
                        help="machine-readable output")
    parser.add_argument("--timeout", type=_positive, metavar="S", default=default(10.0),
                        help="request timeout in seconds (default 10)")
    return parser


def _ranged(low: int, high: int | None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value > high):
            span = f"{low}..{high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
        return value
    return parse


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


# --- running -----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Check the environment and input, run the action, map its errors to exit codes."""
    url = args.api_url or os.environ.get(URL_ENV) or DEFAULT_URL
    try:
        token = os.environ.get(TOKEN_ENV, "")
        if not token:
            raise UsageError(f"{TOKEN_ENV} is not set: export the cluster API token in it")
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--api-url must be an http(s) URL, got {url!r}")
        if getattr(args, "all", False) and (args.limit is not None or args.offset is not None):
            raise UsageError("--all cannot be combined with --limit or --offset")
        if hasattr(args, "file"):
            args.payload = read_payload(args.file)
        with _logs_to_stderr():
            return asyncio.run(_session(args, url, Secret(token, TOKEN_ENV)))
    except UsageError as exc:
        return fail(str(exc), EXIT_USAGE)
    except Unavailable as exc:
        if exc.reached:
            return fail(f"{exc.endpoint} failed: {exc.detail} (API at {url}){_maybe_created(exc)}")
        return fail(f"the cluster API at {url} is unreachable: {exc.detail}")
    except ClusterApiError as exc:
        return fail(f"{exc.endpoint} failed: {exc.detail}{_maybe_created(exc)}")
    except KeyboardInterrupt:
        return 130


def _maybe_created(exc: ClusterApiError) -> str:
    """A create that failed after it may have reached the server was not retried: say why."""
    if exc.endpoint != "apps.create" or not (isinstance(exc, Unavailable | ServerError)):
        return ""
    if isinstance(exc, ServerError) and exc.status == 503:
        return ""
    return "; the cluster may have been created: check `relay clusters list` before retrying"


@contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """Keep stdout for results: only warnings and worse, on stderr, while the command runs."""
    saved = structlog.get_config()
    configure_logging(level="warning", fmt="console", stream=sys.stderr)
    try:
        yield
    finally:
        structlog.configure(**saved)


async def _session(args: argparse.Namespace, url: str, token: Secret) -> int:
    async with open_session() as session:
        client = ClusterClient(session, url, token, request_timeout_s=args.timeout,
                               retry=CLI_RETRY)
        action: Action = args.run_action
        return await action(client, args)


def read_payload(path: str) -> dict[str, Any]:
    """Read a JSON object from a file or `-` (stdin); UsageError says which file and where."""
    name = "standard input" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: not UTF-8 text") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                         f"{exc.msg}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{name}: expected a JSON object, got {type(data).__name__}")
    return data


# --- actions -----------------------------------------------------------------------------


async def _images(client: ClusterClient, args: argparse.Namespace) -> int:
    images = await client.images()
    if args.json:
        return _print_json(images)
    for title, items in (("Custom images", images.custom), ("Public images", images.public)):
        print(title)
        _images_table(items)
        if title.startswith("Custom"):
            print()
    return EXIT_OK


async def _list(client: ClusterClient, args: argparse.Namespace) -> int:
    if args.all:
        clusters = [c async for c in client.iter_all()]
        total = len(clusters)
    else:
        page = await client.list(limit=args.limit or 20, offset=args.offset or 0)
        clusters, total = list(page.clusters), page.total
    if args.json:
        return _print_json({"total": total, "clusters": clusters})
    if not clusters:
        print("no clusters")
    else:
        table(["ID", "NAME", "STATUS", "REPLICAS", "VERSION", "UPDATED"],
              [[c.id, c.name, c.status, c.replicas, c.version, _when(c.updated_at)]
               for c in clusters])
    shown_to = (args.offset or 0) + len(clusters)
    if not args.all and shown_to < total:
        print(f"({total - shown_to} more: use --offset {shown_to} or --all)")
    return EXIT_OK


async def _get(client: ClusterClient, args: argparse.Namespace) -> int:
    cluster = await client.get(args.id)
    if args.json:
        return _print_json(cluster)
    pairs(_cluster_pairs(cluster))
    print(f"\ncontainers ({len(cluster.containers)}):")
    _containers_table(cluster.containers)
    return EXIT_OK


async def _create(client: ClusterClient, args: argparse.Namespace) -> int:
    created = await client.create(args.payload)
    if args.json:
        return _print_json(created)
    print(f"created cluster {created.id}\nweb hook URL: {created.url}")
    return EXIT_OK


async def _update(client: ClusterClient, args: argparse.Namespace) -> int:
    await client.update(args.id, args.payload)
    return _done(args, f"updated cluster {args.id}", {"id": args.id, "updated": True})


async def _delete(client: ClusterClient, args: argparse.Namespace) -> int:
    await client.delete(args.id)
    return _done(args, f"deleted cluster {args.id}", {"id": args.id, "deleted": True})


async def _resize(client: ClusterClient, args: argparse.Namespace) -> int:
    await client.resize(args.id, args.replicas)
    return _done(args, f"resizing cluster {args.id} to {args.replicas} replicas",
                 {"id": args.id, "replicas": args.replicas})


async def _watch(client: ClusterClient, args: argparse.Namespace) -> int:
    """One long-poll, or (--follow) one after another until interrupted."""
    while True:
        containers = await client.watch(args.id, timeout_s=args.wait)
        if args.json:
            doc = {"id": args.id, "containers": to_jsonable(containers)}
            print(json.dumps(doc, indent=None if args.follow else 2))
        else:
            noun = "container" if len(containers) == 1 else "containers"
            print(f"{_when(datetime.now(UTC))} cluster {args.id}: {len(containers)} {noun}")
            _containers_table(containers)
        sys.stdout.flush()
        if not args.follow:
            return EXIT_OK


# --- output ------------------------------------------------------------------------------


def _when(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _print_json(value: object) -> int:
    dump_json(to_jsonable(value))
    return EXIT_OK


def _done(args: argparse.Namespace, text: str, doc: dict[str, Any]) -> int:
    print(json.dumps(doc) if args.json else text)
    return EXIT_OK


def _images_table(items: Sequence[Image]) -> None:
    if not items:
        print("(none)")
        return
    table(["ID", "NAME", "TAG", "WEIGHT", "DESC", "CONSTRAINT"],
          [[i.id, i.name, i.tag, i.weight, i.desc, _constraint(i.constraint)] for i in items])


def _constraint(c: ImageConstraint | None) -> str | None:
    if c is None:
        return None
    lo_hi = [("?" if v is None else v) for v in
             (c.min_combo, c.max_combo, c.min_machine_spec, c.max_machine_spec)]
    return "combo {}-{}, machine spec {}-{}".format(*lo_hi)


def _cluster_pairs(c: Cluster) -> list[tuple[str, Any]]:
    """Every field as `key: value`; the (already masked) password shown as *** only."""
    items: list[tuple[str, Any]] = [
        ("id", c.id), ("name", c.name), ("desc", c.desc), ("domain", c.domain),
        ("status", c.status), ("replicas", c.replicas), ("spec_id", c.spec_id),
        ("image_id", c.image_id), ("charge_type", c.charge_type),
        ("created_at", _when(c.created_at)), ("updated_at", _when(c.updated_at)),
        ("public_ip", c.public_ip), ("private_ip", c.private_ip),
        ("custom_docker_file", c.custom_docker_file), ("web_hook_url", c.web_hook_url),
    ]
    vc = c.version_control
    if vc is not None:
        items += [(f"version_control.{k}", getattr(vc, k)) for k in
                  ("type", "path", "subdir", "branch", "version", "account")]
        items.append(("version_control.password", "***" if vc.password else None))
    items += [(f"env_var.{k}", v) for k, v in sorted(c.env_var.items())]
    items.append(("volumes", ", ".join(v.mount_path + (" (ro)" if v.readonly else "")
                                       for v in c.volumes)))
    return items


def _containers_table(containers: Sequence[Container]) -> None:
    if containers:
        table(["CONTAINER_ID", "PRIVATE_IP"], [[c.container_id, c.private_ip] for c in containers])
