"""The `relay` parser: every option and argument of every command says what it does."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from relay.cli import build_parser


def _walk(parser: argparse.ArgumentParser, name: str
          ) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _walk(sub, f"{name} {sub_name}")
        else:
            yield name, action


def test_every_option_has_help() -> None:
    missing = [f"{cmd}: {' '.join(a.option_strings) or a.dest}"
               for cmd, a in _walk(build_parser(), "relay") if not a.help]
    assert missing == []


def test_the_walk_can_fail() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quiet")
    assert [a.dest for _, a in _walk(parser, "x") if not a.help] == ["quiet"]


def test_the_exit_status_rule_is_in_the_help() -> None:
    epilog = build_parser().epilog or ""
    assert "2  bad usage" in epilog and "HTTP 400" in epilog and "1  the operation failed" \
        in epilog


@pytest.mark.parametrize("argv", [["deployments", "wait", "3"], ["rollback", "10702"],
                                  ["deliveries", "list", "-o", "wide"],
                                  ["deliveries", "show", "github-1"],
                                  ["deployments", "list", "--since", "2h", "--kind", "manual"],
                                  ["completion", "zsh"], ["version"]])
def test_new_commands_parse(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert callable(args.func)


def test_since_takes_a_duration_or_a_time() -> None:
    parser = build_parser()
    assert parser.parse_args(["deployments", "list", "--since", "30m"]).since.endswith("Z")
    got = parser.parse_args(["deployments", "list", "--since", "2026-11-29T10:00:00Z"]).since
    assert got == "2026-11-29T10:00:00+00:00"
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["deployments", "list", "--since", "yesterday"])
    assert exc.value.code == 2
