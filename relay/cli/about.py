"""`relay version` and `relay completion SHELL`: what is installed, and tab completion."""

from __future__ import annotations

import argparse
import platform
import subprocess
from pathlib import Path
from typing import Any

import relay
from relay.cli import EXIT_OK
from relay.cli.output import dump_json

SHELLS = ("bash", "zsh", "tcsh")


def register(sub: Any) -> None:
    p = sub.add_parser("version", help="print relay's version, git revision and Python",
                       description="Print relay's version, the git revision it was built "
                       "from (or 'unknown') and the Python that runs it.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_version)
    p = sub.add_parser("completion", help="print a shell completion script",
                       description="Print a tab-completion script for SHELL. Load it with "
                       "`source <(relay completion bash)`, or save it where your shell "
                       "looks, e.g. `relay completion bash > "
                       "/etc/bash_completion.d/relay`.")
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(func=_completion)


def revision() -> str:
    """The git revision relay runs from: `relay.revision()` where the package has it (set at
    build time), else `git rev-parse HEAD` when run from a checkout, else "unknown"."""
    built = getattr(relay, "revision", None)
    if callable(built):
        return str(built())
    checkout = Path(relay.__file__).resolve().parent.parent
    if not (checkout / ".git").exists():
        return "unknown"
    try:
        found = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--verify", "-q",
                                "HEAD"], capture_output=True, text=True, timeout=2,
                               check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found or "unknown"


def _version(args: argparse.Namespace) -> int:
    info = {"version": relay.__version__, "revision": revision(),
            "python": platform.python_version()}
    if args.json:
        dump_json(info)
    else:
        print(f"relay {info['version']}\nrevision: {info['revision']}\n"
              f"python: {info['python']} ({platform.python_implementation()})")
    return EXIT_OK


def _completion(args: argparse.Namespace) -> int:
    import shtab

    from relay.cli import build_parser

    print(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_OK
