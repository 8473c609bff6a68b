"""`relay completion SHELL`: tab completion generated from the parser itself."""

from __future__ import annotations

import argparse
from typing import Any

from relay.cli import EXIT_OK

SHELLS = ("bash", "zsh", "tcsh")


def register(sub: Any) -> None:
    p = sub.add_parser("completion", help="print a shell completion script",
                       description="Print a tab-completion script for SHELL. Load it with "
                       "`source <(relay completion bash)`, or save it where your shell "
                       "looks, e.g. `relay completion bash > "
                       "/etc/bash_completion.d/relay`.")
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(func=_completion)


def _completion(args: argparse.Namespace) -> int:
    import shtab

    from relay.cli import build_parser

    print(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_OK
