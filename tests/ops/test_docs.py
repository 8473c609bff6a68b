"""The repository stands alone: its docs link only to what it holds, and nothing a user reads
(docs, code comments, --help, deploy artefacts, the shipped config) sends them to files a
clone does not have (the project's contract, a shared folder, the API seed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import Histogram

from relay.metrics import Metrics
from tests.ops.test_deploy_docs import anchors

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
SCANNED = ["README.md", "docs", "relay", "deploy", "config", "bench", "scripts", "Makefile",
           "pyproject.toml"]
OUTSIDE = re.compile(r"CONTRACT|\.\./shared|\bseed/|\bseed (?:section|notes|lists|operations)"
                     r"|\bthe seed\b")



def links(doc: Path) -> list[str]:
    """Relative Markdown link targets of `doc` (inline links, outside code blocks)."""
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text)
            if not t.startswith(("http://", "https://", "mailto:"))]


def broken_links(doc: Path, root: Path = ROOT) -> list[str]:
    bad = []
    for target in links(doc):
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists():
            bad.append(f"{target}: no such file")
        elif not path.is_relative_to(root):
            bad.append(f"{target}: outside the repository")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            bad.append(f"{target}: no such section")
    return bad


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(doc: Path) -> None:
    assert not broken_links(doc), f"{doc.relative_to(ROOT)}: {broken_links(doc)}"


def test_the_link_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("# Real heading\n")
    doc = tmp_path / "a.md"
    doc.write_text("[x](b.md#real-heading) [y](b.md#missing) [z](nope.md) [w](https://e.x)\n"
                   "[up](../) [self](#nothing)\n```\n[in code](ignored.md)\n```\n")
    assert broken_links(doc, root=tmp_path) == [
        "b.md#missing: no such section", "nope.md: no such file", "../: outside the repository",
        "#nothing: no such section"]


def scanned_files() -> list[str]:
    files: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        files += [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sorted(str(p.relative_to(ROOT)) for p in files
                  if "__pycache__" not in p.parts and p.suffix not in (".pyc", ".db"))


def outside_references(rel: str) -> list[str]:
    try:
        text = (ROOT / rel).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return []
    return [f"{rel}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)]


def test_nothing_points_outside_the_repository() -> None:
    found = [hit for rel in scanned_files() for hit in outside_references(rel)]
    assert not found, ("these send a reader to files a clone does not have; write what they "
                       "need into docs/ instead:\n" + "\n".join(found))


def test_the_outside_reference_check_can_fail() -> None:
    for line in ("see CONTRACT section 5", "../shared/webhook-protocol.md",
                 "(seed/cluster-api.md)", "seed section 4", "the seed lists create_fail"):
        assert OUTSIDE.search(line), line
    for line in ("seed_demo=True", "random.Random(seed)", "def sha(seed: str)", "seedable"):
        assert not OUTSIDE.search(line), line


# -- Statements of docs/metrics.md that the code decides -------------------------------------

def declared_buckets() -> dict[str, list[float]]:
    """Histogram name -> its upper bounds without +Inf (prometheus_client keeps them in
    `_upper_bounds`, for labelled and unlabelled histograms alike)."""
    return {h._name: [b for b in h._upper_bounds if b != float("inf")]
            for h in vars(Metrics(process=False)).values() if isinstance(h, Histogram)}


def documented_buckets(name: str) -> list[float]:
    doc = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    section = doc.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
    match = re.search(r"Buckets, in seconds:\s+([\d.,\s]+?)\.(?:\s|$)", section)
    assert match, f"docs/metrics.md: {name} does not list its buckets"
    return [float(v) for v in re.findall(r"\d+(?:\.\d+)?", match.group(1))]


@pytest.mark.parametrize("name", sorted(declared_buckets()))
def test_documented_buckets_are_the_real_ones(name: str) -> None:
    assert documented_buckets(name) == declared_buckets()[name]
