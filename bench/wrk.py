"""Run wrk with bench/ingest.lua and read its one-line JSON summary."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.payload import SECRET, fill, sha
from relay.signatures import sign_github

SCRIPT = Path(__file__).with_name("ingest.lua")


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_s: float
    p99_s: float
    max_s: float
    errors: int  # connect/read/write errors
    timeouts: int
    codes: dict[int, int]
    cpu_s: float = math.nan  # wrk's own CPU time (user + system), NaN when not measured

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def count(self, status: int) -> int:
        return self.codes.get(status, 0)

    @property
    def cpu_us_per_request(self) -> float:
        """The load generator's CPU per request, µs (NaN when not measured or no request)."""
        return self.cpu_s / self.requests * 1e6 if self.requests else math.nan


# Runs wrk as its only child and then prints the child's CPU time (user + system, seconds) on
# stderr: the load generator's own cost, beside the server's (the bench process itself has
# other children, the servers, so its own RUSAGE_CHILDREN would mix them in).
_TIMED = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "used = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(f'WRK_CPU_S {used.ru_utime + used.ru_stime}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def available() -> bool:
    return shutil.which("wrk") is not None


def pool_lines(template: bytes, *, tag: str, size: int, branches: list[str]) -> list[str]:
    """`size` "commit branch signature" lines: distinct commits (seeded by `tag`), branches
    round-robin, each signed over the body bench/ingest.lua builds from `template`."""
    key = SECRET.encode()
    out = []
    for i in range(size):
        commit, branch = sha(f"{tag}-{i}"), branches[i % len(branches)]
        out.append(f"{commit} {branch} {sign_github(key, fill(template, commit, branch))}")
    return out


def run_wrk(url: str, template: bytes, *, tag: str, connections: int, duration_s: float,
            branches: list[str] | None = None, pool_size: int = 40000, threads: int = 1,
            timeout_s: float = 10.0) -> WrkResult:
    """Drive `url` with signed deliveries for `duration_s`: a distinct delivery id and head
    commit per request (`tag` seeds both), branches round-robin over `branches`."""
    lines = pool_lines(template, tag=tag, size=pool_size, branches=branches or ["main"])
    with tempfile.NamedTemporaryFile(suffix=".json") as f, \
            tempfile.NamedTemporaryFile(mode="w", suffix=".pool") as p:
        f.write(template)
        f.flush()
        p.write("\n".join(lines) + "\n")
        p.flush()
        argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
                f"--timeout={timeout_s:g}s", "-s", str(SCRIPT), url, "--", f.name, p.name, tag]
        out, err = run_timed(argv, timeout_s=duration_s + timeout_s + 30)
    return parse_summary(out, err)


def run_timed(argv: list[str], *, timeout_s: float) -> tuple[str, str]:
    """Run `argv` under `_TIMED`: (stdout, stderr), the stderr ending with `WRK_CPU_S
    <seconds>`, the command's own CPU time. Raises CalledProcessError when the command fails,
    TimeoutExpired after `timeout_s` seconds (the shim and the command are both killed:
    they run in a process group of their own)."""
    with subprocess.Popen([sys.executable, "-c", _TIMED, *argv], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, argv, out, err)
    return out, err


def parse_summary(output: str, stderr: str = "") -> WrkResult:
    """wrk's `BENCH {...}` line (bench/ingest.lua) -> WrkResult; its CPU time from the
    `WRK_CPU_S <seconds>` line `_TIMED` writes on `stderr`, if there is one (else NaN).
    Raises RuntimeError when there is no summary line, ValueError when a line is malformed."""
    line = next((ln for ln in output.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    cpu = next((float(ln.split()[1]) for ln in stderr.splitlines()
                if ln.startswith("WRK_CPU_S ")), math.nan)
    d = json.loads(line[len("BENCH "):])
    return WrkResult(
        requests=d["requests"], duration_s=d["duration_us"] / 1e6, p50_s=d["p50_us"] / 1e6,
        p99_s=d["p99_us"] / 1e6, max_s=d["max_us"] / 1e6, errors=d["errors"],
        timeouts=d["timeouts"], codes={int(k): v for k, v in d["codes"].items()}, cpu_s=cpu,
    )
