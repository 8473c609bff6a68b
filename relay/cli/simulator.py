"""`relay simulator`: run the cluster API simulator on its own (docs/cluster-api.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path
from typing import Any

TOKEN_ENV = "RELAY_API_TOKEN"


def register(sub: Any) -> None:
    """Add this module's commands to the `relay` parser."""
    from relay.simulator.faults import GRAMMAR

    parser = sub.add_parser(
        "simulator",
        help="run the cluster API simulator",
        description="Run the NetEase Cloud cluster API simulator (docs/cluster-api.md).\n"
        f"The token it accepts is read from {TOKEN_ENV}; clients send "
        "'Authorization: Token ...'.\nIt never generates or prints a token.",
        epilog=GRAMMAR,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="port to listen on (8090)")
    parser.add_argument("--state", type=Path, metavar="FILE",
                        help="JSON file: loaded at startup if it exists, saved on every change")
    parser.add_argument("--fault", type=_fault, action="append", default=[], metavar="SPEC",
                        help="inject a fault (repeatable; grammar below)")
    parser.add_argument("--step-s", type=_seconds, default=0.2, metavar="S",
                        help="seconds per step of creations, rollouts and resizes (0.2)")
    parser.add_argument("--watch-timeout-s", type=_seconds, default=30.0, metavar="S",
                        help="longest a watch long-poll is held (30)")
    parser.add_argument("--max-replicas", type=int, default=20, metavar="N",
                        help="replica capacity of a cluster (20)")
    parser.add_argument("--no-demo", action="store_true",
                        help="start without the demo clusters (when no state file exists)")
    parser.add_argument("--seed", type=int, help="seed for fault rates (reproducible runs)")
    parser.add_argument("--public-url", metavar="URL",
                        help="base URL given out in web hook URLs (default: the request's)")
    parser.set_defaults(func=run)


def _fault(spec: str) -> Any:
    from relay.simulator.faults import parse_fault

    try:
        return parse_fault(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of seconds >= 0")
    return value


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; exit 2 without a token or with a bad state file."""
    from relay.cli import EXIT_USAGE, fail

    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        return fail(f"{TOKEN_ENV} is not set: export the API token the simulator should "
                    "accept (it is never generated or printed)", EXIT_USAGE)
    try:
        app = _build(args, token)
    except ValueError as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        asyncio.run(_serve(app, args.host, args.port))
    except OSError as exc:
        return fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    return 0


def _build(args: argparse.Namespace, token: str) -> Any:
    from relay.simulator import Faults, create_simulator_app

    return create_simulator_app(
        token=token, step_s=args.step_s, faults=Faults(args.fault, seed=args.seed),
        state_path=args.state, seed_demo=not args.no_demo, max_replicas=args.max_replicas,
        watch_timeout_s=args.watch_timeout_s, public_url=args.public_url,
    )


async def _serve(app: Any, host: str, port: int) -> None:
    import structlog
    from aiohttp import web

    log = structlog.get_logger("relay.simulator")
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        for address in runner.addresses:
            log.info("simulator listening", url=f"http://{_host(address[0])}:{address[1]}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("simulator stopping")
    finally:
        await runner.cleanup()


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
