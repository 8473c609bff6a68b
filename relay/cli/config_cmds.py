"""`relay check-config` and `relay routes explain`: the configuration, seen from the shell.

check-config loads the configuration as `relay serve` would, environment included (unless
--no-env); routes explain checks everything but the environment, so it needs no secret.
Exit status: 0 fine (explain: at least one route matches), 1 explain: no route matches,
2 bad configuration or usage. Warnings never change the exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from relay.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from relay.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    ConfigProblem,
    Route,
    Settings,
    json_schema,
    load_routes,
)
from relay.config import check_config as check_file
from relay.events import Source
from relay.reconcile_plan import targets
from relay.routing import RouteVerdict, explain, verdicts_to_json


def register(sub: Any) -> None:
    """Add `check-config` and `routes explain` to the `relay` parser."""
    check = sub.add_parser(
        "check-config", help="validate a configuration and the environment it names",
        description="Validate the configuration file and the environment variables it names; "
                    "print every problem with its key path, then warnings "
                    "(`warning: PATH: message`).",
        epilog="Exit status: 0 valid (warnings or not), 2 any problem.")
    _config_option(check)
    check.add_argument("--no-env", action="store_true",
                       help="check everything but the environment: no variable is read and "
                            "the SQLite file's directory is not looked at (for a CI job)")
    check.add_argument("--schema", action="store_true",
                       help="print the configuration's JSON Schema (for editors) and exit")
    check.set_defaults(func=check_config)

    routes = sub.add_parser("routes", help="inspect the route table",
                            description="Inspect the route table of a configuration.")
    _config_option(routes)
    routes_sub = routes.add_subparsers(dest="routes_command", metavar="SUBCOMMAND", required=True)
    explain_parser = routes_sub.add_parser(
        "explain", help="which routes match a push, and why the others do not",
        description="Judge every route against a push of REF to REPO from SOURCE.",
        epilog="Exit status: 0 at least one route matches, 1 none does, 2 bad configuration "
               "or usage.")
    explain_parser.add_argument("--source", choices=[s.value for s in Source],
                                help="the git host (default: any)")
    explain_parser.add_argument("--repo", required=True, help="owner/name, as the host spells it")
    explain_parser.add_argument("--ref", required=True,
                                help="refs/heads/NAME, refs/tags/NAME, or a bare branch name")
    explain_parser.add_argument("--paths", nargs="+", default=None, metavar="FILE",
                                help="changed files of the push: show the path filters' "
                                "decision (docs/gates.md)")
    explain_parser.add_argument("--message", default=None, metavar="TEXT",
                                help="the head commit message: show the skip markers' decision")
    explain_parser.add_argument("--json", action="store_true", help="print JSON")
    _config_option(explain_parser, suppress=True)
    explain_parser.set_defaults(func=routes_explain)


def _config_option(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    # On a subcommand the default is suppressed, so `routes --config X explain` keeps X.
    parser.add_argument("--config", type=Path, metavar="PATH",
                        default=argparse.SUPPRESS if suppress else DEFAULT_CONFIG_PATH,
                        help=f"configuration file (default: {DEFAULT_CONFIG_PATH})")


def report_problems(path: Path, problems: tuple[ConfigProblem, ...],
                    warnings: tuple[ConfigProblem, ...] = ()) -> None:
    """Every problem, one `KEY.PATH: message` a line on standard error, then every warning
    (`warning: KEY.PATH: message`), then a count of the problems."""
    for problem in problems:
        print(problem, file=sys.stderr)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    count = len(problems)
    print(f"relay: {path}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)


def load_or_report(path: Path) -> Settings | None:
    """The settings, or None after printing every problem, one `PATH: message` a line."""
    report = check_file(path, os.environ)
    if report.settings is None:
        report_problems(path, report.problems)
    return report.settings


def check_config(args: argparse.Namespace) -> int:
    if args.schema:
        print(json.dumps(json_schema(), indent=2))
        return EXIT_OK
    report = check_file(args.config, None if args.no_env else os.environ)
    if report.problems:
        report_problems(args.config, report.problems, report.warnings)
        return EXIT_USAGE
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if report.settings is None:  # --no-env
        print(f"{args.config}: OK (environment not checked)")
        print(f"  {'routes':<12} {len(report.routes)}")
        return EXIT_OK
    print(f"{args.config}: OK")
    for label, value in summary(report.settings):
        print(f"  {label:<12} {value}")
    return EXIT_OK


def summary(settings: Settings) -> list[tuple[str, str]]:
    """What a configuration switches on, by variable name; never a secret's value."""
    api = settings.cluster_api
    sources = ", ".join(
        f"{conf.source} ({', '.join(s.source for s in conf.secrets)})"
        for conf in settings.sources.values()
    )
    admin = settings.admin.token
    return [
        ("server", f"{settings.server.host}:{settings.server.port}"),
        ("store", settings.store.url),
        ("cluster API", f"{api.base_url} (token from {api.token.source})"),
        ("sources", sources or "none (every /hooks endpoint answers 404)"),
        ("admin API", f"on (token from {admin.source})" if admin else "off"),
        ("routes", str(len(settings.routes))),
        ("gates", gates_summary(settings)),
    ] + ([("catch-up", _catch_up(settings))]
         if any(conf.api is not None for conf in settings.sources.values()) else [])


def _catch_up(settings: Settings) -> str:
    """Which branch heads catch-up reads, or why it is off."""
    if settings.reconcile.interval_s == 0:
        return "off (reconcile.interval_s is 0)"
    with_api = [s for s, conf in settings.sources.items() if conf.api is not None]
    found = targets(settings.routes, with_api)
    if not found:
        return "off (no source has an api, or no route names a branch exactly)"
    heads = ", ".join(f"{t.source} {t.repo} {t.branch}" for t in found)
    return f"every {settings.reconcile.interval_s} s: {heads}"


def gates_summary(settings: Settings) -> str:
    """Which routes have deploy gates (docs/gates.md), and how many scheduled holds."""
    parts = []
    for route in settings.routes:
        gates = [name for name, on in (
            ("paths", route.filters.paths is not None),
            ("paths_ignore", route.filters.paths_ignore is not None),
            ("wait_for_checks", route.wait_for_checks is not None),
            ("on_failure: rollback", route.on_failure == "rollback")) if on]
        if gates:
            parts.append(f"routes[{route.index}] ({', '.join(gates)})")
    holds = len(settings.holds)
    if holds:
        parts.append(f"{holds} scheduled hold{'s' if holds != 1 else ''}")
    return "; ".join(parts) or "none (docs/gates.md)"


def routes_explain(args: argparse.Namespace) -> int:
    try:
        routes: tuple[Route, ...] = load_routes(args.config)
    except ConfigError as exc:
        report_problems(args.config, exc.problems)
        return EXIT_USAGE
    source = Source(args.source) if args.source else None
    verdicts = explain(routes, source=source, repo=args.repo, ref=args.ref)
    data = verdicts_to_json(verdicts, source=source, repo=args.repo, ref=args.ref,
                            paths=args.paths, message=args.message)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"source {source or 'any'}, repository {args.repo}, ref {args.ref}\n")
        print(render_table(verdicts))
        if args.paths is not None or args.message is not None:
            print()
            for route in data["routes"]:
                if route["matched"]:
                    for f in route["filters"]:
                        print(f"routes[{route['index']}] {f['filter']}: {f['verdict']} "
                              f"({f['reason']})")
        matched = sum(1 for v in verdicts if v.matched)
        print(f"\n{matched} of {len(verdicts)} route{'s' if len(verdicts) != 1 else ''} match.")
    return EXIT_OK if any(v.matched for v in verdicts) else EXIT_FAILED


def render_table(verdicts: tuple[RouteVerdict, ...]) -> str:
    """One row per route: MATCH yes/no and, for a no, every reason."""
    rows = [("#", "MATCH", "REPO", "REF", "CLUSTER", "ACTION", "SOURCE", "WHY NOT")]
    for v in verdicts:
        route = v.route
        rows.append((str(route.index), "yes" if v.matched else "no", route.repo,
                     f"{route.ref_kind} {route.ref_glob}", str(route.cluster),
                     route.action.value, route.source or "any", "; ".join(v.reasons)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
