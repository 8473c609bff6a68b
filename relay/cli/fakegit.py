"""`relay fake-git`: serve the fakes of the GitHub, GitLab and Gitea APIs on their own."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

TOKEN_ENV = "RELAY_FAKE_GIT_TOKEN"
SOURCES = ("github", "gitlab", "gitea")


def register(sub: Any) -> None:
    """Add this module's command to the `relay` parser."""
    from relay.fakegit.faults import GRAMMAR

    parser = sub.add_parser(
        "fake-git",
        help="serve fakes of the GitHub, GitLab and Gitea APIs",
        description="Serve in-process fakes of the GitHub, GitLab and Gitea APIs, all three "
        "on one port:\n  GitHub  http://HOST:PORT/fake-git/github\n"
        "  GitLab  http://HOST:PORT/fake-git/gitlab/api/v4\n"
        "  Gitea   http://HOST:PORT/fake-git/gitea/api/v1\n"
        "What each received: GET /fake-git/{github,gitlab,gitea}/{statuses,deployments}.\n"
        f"The token they accept: --token, else {TOKEN_ENV}.",
        epilog=GRAMMAR,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8091, help="port to listen on (8091)")
    parser.add_argument("--token", help=f"the token the fakes accept (default: ${TOKEN_ENV})")
    parser.add_argument("--repo", action="append", default=[], metavar="OWNER/NAME",
                        help="a repository the fakes know (repeatable; default acme/shop)")
    parser.add_argument("--branch", default="main",
                        help="the branch each repository starts with (main)")
    parser.add_argument("--strict", action="store_true",
                        help="answer 404 for repositories and commits never set up (default: "
                        "any OWNER/NAME is a repository, any 40-hex sha a commit)")
    parser.add_argument("--fault", type=_fault, action="append", default=[],
                        metavar="[SOURCE:]SPEC", help="inject a fault (repeatable; below)")
    parser.add_argument("--seed", type=int, help="seed for fault rates (reproducible runs)")
    parser.set_defaults(func=run)


def _fault(raw: str) -> tuple[str | None, Any]:
    from relay.fakegit.faults import parse_fault

    source, _, rest = raw.partition(":")
    scope, spec = (source, rest) if source in SOURCES else (None, raw)
    try:
        return scope, parse_fault(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; exit 2 without a token or with a bad repository."""
    from relay.cli import EXIT_USAGE, fail

    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        return fail(f"no token: pass --token or set {TOKEN_ENV}", EXIT_USAGE)
    try:
        app = _build(args, token)
    except ValueError as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        asyncio.run(_serve(app, args.host, args.port))
    except OSError as exc:
        return fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    return 0


DEMO_HEAD = "0" * 40  # the head every seeded branch starts at


def _build(args: argparse.Namespace, token: str) -> Any:
    from aiohttp import web

    from relay.events import Source
    from relay.fakegit import PREFIX, FakeHost, GitFaults, create_fake_git_app
    from relay.githost.base import split_repo

    repos = args.repo or ["acme/shop"]
    hosts: dict[Source, FakeHost] = {}
    for source in Source:
        faults = GitFaults([f for scope, f in args.fault if scope in (None, source.value)],
                           seed=args.seed)
        host = FakeHost(source.value, faults=faults, lenient=not args.strict)
        for repo in repos:
            split_repo(repo)
            host.add_repo(repo, branches={args.branch: DEMO_HEAD})
        hosts[source] = host
    root = web.Application()
    root.add_subapp(PREFIX, create_fake_git_app({s: token for s in Source}, hosts=hosts))
    return root


async def _serve(app: Any, host: str, port: int) -> None:
    import structlog
    from aiohttp import web

    from relay.events import Source
    from relay.fakegit import api_url

    log = structlog.get_logger("relay.fakegit")
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        for address in runner.addresses:
            origin = f"http://{_host(address[0])}:{address[1]}"
            log.info("fake-git listening",
                     **{source.value: api_url(origin, source) for source in Source})
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("fake-git stopping")
    finally:
        await runner.cleanup()


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
