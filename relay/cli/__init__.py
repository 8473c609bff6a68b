"""The `relay` command: builds the parser from one module per command group and dispatches.

Exit status: 0 success, 1 the operation failed, 2 bad usage or bad configuration, whether
the command line, the configuration or the admin API (an HTTP 400) found it. Each command
module exposes `register(subparsers)`, which adds its parsers and sets `func`, a callable
taking the parsed namespace and returning the exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from relay import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]
EPILOG = """\
exit status:
  0  success (a deployment of the version already running is a success: "nothing to do")
  1  the operation failed: an API error, relay or the cluster API unreachable, a followed
     deployment that did not succeed
  2  bad usage or configuration, whether the command line, the configuration or the
     server (an admin API answer of HTTP 400) found it

environment:
  RELAY_URL, RELAY_ADMIN_TOKEN   the relay the admin commands talk to, and its token
  RELAY_API_TOKEN                the cluster API token of `relay clusters`
  NO_COLOR                       no colour in tables (https://no-color.org)
  COLUMNS                        the width tables are cut to (default: the terminal's)
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the whole `relay` parser (imports each command module lazily, here only)."""
    from relay.cli import (
        admin,
        clusters,
        completion,
        config_cmds,
        demo,
        fakegit,
        gates,
        service,
        simulator,
        store_cmds,
    )

    parser = argparse.ArgumentParser(
        prog="relay",
        description="Receive git push webhooks and deploy them to NetEase Cloud clusters.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"relay {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (service, config_cmds, simulator, fakegit, clusters, admin, gates, demo,
                   completion, store_cmds):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.func
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


def fail(message: str, code: int = EXIT_FAILED) -> int:
    """Print one error line to stderr and return `code`."""
    print(f"relay: {message}", file=sys.stderr)
    return code
