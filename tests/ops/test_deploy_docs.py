"""docs/runbooks.md, docs/operations.md, docs/metrics.md stay true to the code: every `relay`
command line they show parses with relay's own parser, every PromQL example passes promtool
and names only metrics relay exposes, and every link and anchor resolves."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from relay.cli import build_parser
from tests.integration.test_metrics_exposition import exposed_sample_names
from tests.ops.test_alerts import github_anchor
from tests.ops.test_deploy import check_promql

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / name for name in ("runbooks.md", "operations.md", "metrics.md")]

# Placeholders the docs use for values, with a value of the right type for the parser.
PLACEHOLDERS = {"ID": "1", "DELIVERY_ID": "github-1", "GOOD_SHA": "4f2a9c1", "SHA": "4f2a9c1",
                "CLUSTER": "10702", "VERSION": "4f2a9c1"}
SHELL_STOP = re.compile(r"\s(?:\||&&|;|>|#)\s?")


def top_level_commands() -> set[str]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def relay_command_lines(text: str) -> list[str]:
    """`relay ...` invocations in fenced blocks (`$ relay`, `-- relay`) and inline code."""
    commands = top_level_commands()
    candidates: list[str] = []
    for block in re.findall(r"```(?:console|sh|bash)\n(.*?)```", text, re.S):
        candidates += [line.removeprefix("$ ") for line in block.splitlines()
                       if line.startswith("$ ")]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    candidates += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    found = []
    for candidate in candidates:
        for match in re.finditer(r"(?:^|\s)(relay\s+(\S+).*)$", candidate):
            if match.group(2) in commands:
                found.append(SHELL_STOP.split(match.group(1))[0].strip())
                break
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relay_command_in_the_docs_parses(doc: Path) -> None:
    lines = relay_command_lines(doc.read_text())
    if doc.name != "metrics.md":
        assert lines, f"{doc.name}: no relay command found (the extraction is broken)"
    parser = build_parser()
    for line in lines:
        args = [PLACEHOLDERS.get(word, word) for word in shlex.split(line)[1:]]
        try:
            parser.parse_args(args)
        except SystemExit as exc:
            pytest.fail(f"{doc.name}: `{line}` is not a valid relay command (exit {exc.code})")


def test_command_extraction_catches_a_wrong_command() -> None:
    text = "Run `relay deployments list --state failed` now.\n"
    [line] = relay_command_lines(text)
    with pytest.raises(SystemExit):
        build_parser().parse_args(shlex.split(line)[1:])


def promql_examples() -> list[tuple[str, str]]:
    return [(doc.name, block.strip()) for doc in DOCS
            for block in re.findall(r"```promql\n(.*?)```", doc.read_text(), re.S)]


def test_every_promql_example_is_valid(tmp_path: Path) -> None:
    examples = promql_examples()
    assert len(examples) >= 20
    result = check_promql([expr for _, expr in examples], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promql_examples_use_only_exposed_metrics() -> None:
    exposed = exposed_sample_names() | {"up"}
    for doc, expr in promql_examples():
        used = set(re.findall(r"\b(relay_\w+)", expr))
        assert used <= exposed, f"{doc}: {expr} uses {used - exposed}"


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {github_anchor(m.group(1).replace("`", "")) for m in
            re.finditer(r"^#{1,6} (.+)$", text, re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_and_anchors_resolve(doc: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        assert path.exists(), f"{doc.name}: link to {target}: no such file"
        if anchor:
            assert anchor in anchors(path), f"{doc.name}: link to {target}: no such section"
