"""`relay serve`: load the configuration, wire the app, serve until SIGTERM or Ctrl-C; and
`relay version`: what is running."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import signal
import sys
from pathlib import Path
from typing import Any

from relay import __version__, revision
from relay.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from relay.cli.config_cmds import load_or_report
from relay.config import DEFAULT_CONFIG_PATH, Settings, load_settings


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the webhook relay service",
        description="Serve webhooks, the admin API, /healthz, /readyz and /metrics.",
        epilog="Secrets are read from the environment variables the configuration names.",
    )
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, metavar="PATH",
                   help=f"configuration file (default: {DEFAULT_CONFIG_PATH})")
    p.set_defaults(func=serve)

    v = sub.add_parser(
        "version",
        help="print relay's version, git revision and Python version",
        description="Print the version, the git commit relay was built from (or `unknown`) and "
                    "the Python version: the labels of the relay_build_info metric.",
    )
    v.add_argument("--json", action="store_true",
                   help='one JSON object: {"version", "revision", "python"}')
    v.set_defaults(func=version)


def version(args: argparse.Namespace) -> int:
    """`relay version [--json]`: the build, as relay_build_info labels it. Always exit 0."""
    build = {"version": __version__, "revision": revision(),
             "python": platform.python_version()}
    if args.json:
        print(json.dumps(build))
    else:
        print(f"relay {build['version']} (revision {build['revision']}, "
              f"Python {build['python']})")
    return EXIT_OK


def serve(args: argparse.Namespace) -> int:
    settings = load_or_report(args.config)
    if settings is None:
        return EXIT_USAGE
    from relay.logs import close_logging, configure_logging

    # buffered: one write per FLUSH_INTERVAL_S, not per line (docs/operations.md, "Logs")
    configure_logging(settings.logging.level, settings.logging.format, buffered=True)
    from relay.store import StoreError

    try:
        asyncio.run(run_server(settings, config_path=args.config, freeze_heap=True))
    except StoreError as exc:  # e.g. PostgreSQL not answering at start: one line, exit 1
        print(f"relay: cannot open the store: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"relay: cannot serve on {settings.server.host}:{settings.server.port}: {exc}",
              file=sys.stderr)
        return EXIT_FAILED
    finally:
        close_logging()  # the buffered lines of the last interval
    return EXIT_OK


async def run_server(settings: Settings, *, ready: asyncio.Event | None = None,
                     config_path: Path | None = None, freeze_heap: bool = False) -> None:
    """Serve until SIGTERM/SIGINT; then stop accepting, finish in-flight requests, clean up.

    With `config_path`, SIGHUP reloads the configuration from it (relay.app.reload_settings).
    With `freeze_heap` (`relay serve`), the heap built at startup is frozen once ready
    (`freeze_startup_heap`).
    """
    import structlog

    from relay.app import create_app, reload_settings
    from relay.server import ServerLimits, serve

    log = structlog.get_logger("relay")
    app = create_app(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if config_path is not None:  # SIGHUP re-reads the file (docs/operations.md, "Reloading")
        loop.add_signal_handler(signal.SIGHUP, reload_settings, app,
                                lambda: load_settings(config_path, os.environ))
    try:
        # relay.server: read timeouts, the connection cap and rate-limited accept errors.
        async with serve(app, host=settings.server.host, port=settings.server.port,
                         limits=ServerLimits.from_settings(settings.server),
                         shutdown_timeout_s=settings.server.shutdown_timeout_s):
            log.info("relay ready", url=f"http://{settings.server.host}:{settings.server.port}",
                     store=settings.store.url.split("://", 1)[0],
                     cluster_api=settings.cluster_api.base_url,
                     sources=sorted(s.value for s in settings.sources),
                     routes=len(settings.routes))
            if freeze_heap:
                freeze_startup_heap()
            if ready is not None:
                ready.set()
            await stop.wait()
            log.info("relay stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        log.info("relay stopped")


def freeze_startup_heap() -> None:
    """Collect once, then move every object alive now (modules, classes, settings, the app:
    about 73,000 objects) to the collector's permanent generation (`gc.freeze`).

    A full collection walks every tracked object: with the startup heap in it, each took
    30-45 ms here, a stall of the event loop that showed as the p99 of acknowledgements
    (bench/RESULTS.md, issue 17). Frozen objects are never walked again; what relay creates
    while serving is collected as before. Memory: startup objects that later become garbage
    are still freed by reference counting; only those caught in reference cycles stay.
    """
    gc.collect()
    gc.freeze()
