"""bench/RESULTS.md: one section per run, appended: date, commit, machine, then the tables."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = """# relay benchmark results

Appended by `make bench` (bench/run.py), newest last. These machines are noisy: compare the
ratios and medians inside one run rather than absolute figures across runs. How each figure is
measured is described in bench/README.md.
"""


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def render(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |",
                 "|" + "|".join("---" for _ in self.header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Target:
    """One goal of the issue and where relay stands."""

    benchmark: str
    goal: str
    measured: str
    met: bool | None  # None: not measured in this run


def targets_table(targets: list[Target]) -> Table:
    table = Table("Targets", ["benchmark", "target", "relay", "verdict"])
    for t in targets:
        verdict = "n/a" if t.met is None else ("met" if t.met else "**missed**")
        table.add(t.benchmark, t.goal, t.measured, verdict)
    return table


def machine() -> str:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem_kb / 1024 / 1024:.1f} GiB memory, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def git_commit(root: Path) -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + (" (with uncommitted changes)" if dirty.strip() else "")


def render_run(tables: list[Table], *, commit: str, when: datetime | None = None,
               machine_line: str | None = None, label: str = "") -> str:
    when = when or datetime.now(UTC)
    head = f"## {when.strftime('%Y-%m-%d %H:%M UTC')}" + (f": {label}" if label else "")
    lines = [head, "", f"- commit: {commit}", f"- machine: {machine_line or machine()}", ""]
    return "\n".join(lines) + "\n" + "\n".join(t.render() for t in tables) + "\n"


def append(text: str, path: Path = RESULTS) -> None:
    """Append one run's section, creating the file with its header the first time."""
    if not path.exists():
        path.write_text(HEADER + "\n")
    # A section starts on a line of its own, after a blank line, whatever the file ends with
    # (a hand-written note after the last run may end without its newline).
    ending = path.read_bytes()[-2:]
    gap = "" if ending in (b"", b"\n\n") else "\n" if ending.endswith(b"\n") else "\n\n"
    with path.open("a") as f:
        f.write(gap + text)
