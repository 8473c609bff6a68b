"""docs/githost.md stays true to the code: its fault examples parse, its `relay fake-git`
lines parse, its state tables match the clients' tables."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from relay.cli import build_parser
from relay.fakegit import parse_fault
from relay.githost import gitea, github, gitlab

DOC = (Path(__file__).resolve().parents[2] / "docs" / "githost.md").read_text()


def test_every_fault_example_parses() -> None:
    [block] = [b for b in re.findall(r"```\n(.*?)```", DOC, re.S) if "count=2" in b]
    specs = [line.split()[0] for line in block.splitlines() if line and not line[0].isspace()]
    assert len(specs) >= 8
    for spec in specs:
        parse_fault(spec)


def test_every_fake_git_command_line_parses() -> None:
    lines = [m.group(1) for m in re.finditer(r"^\$ (relay fake-git.*)$", DOC, re.M)]
    assert lines
    for line in lines:
        args = build_parser().parse_args(shlex.split(line)[1:])
        assert args.command == "fake-git"


def test_the_commit_state_table_is_the_clients() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| `(\w+)` \| `\w+` \|$", DOC, re.M))
    gitlab_rows = dict(re.findall(r"^\| `(\w+)` \| `\w+` \| `(\w+)` \|$", DOC, re.M))
    for state, name in github.COMMIT_STATES.items():
        assert rows[state.value] == name == gitea.COMMIT_STATES[state]
        assert gitlab_rows[state.value] == gitlab.COMMIT_STATES[state]
