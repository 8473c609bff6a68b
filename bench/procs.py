"""Processes under test: spawn, wait for readiness, read RSS and CPU time from /proc, stop."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.payload import ADMIN_TOKEN, API_TOKEN, SECRET

ROOT = Path(__file__).resolve().parents[1]
ENV = {"RELAY_API_TOKEN": API_TOKEN, "RELAY_GITHUB_SECRET": SECRET,
       "RELAY_ADMIN_TOKEN": ADMIN_TOKEN}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """A spawned process, its port and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path
    started: float  # time.monotonic() just before the spawn

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        return _status_kb(self.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return _status_kb(self.pid, "VmHWM") / 1024

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far (all threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self, *, kill: bool = False, timeout: float = 15.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=timeout)


def spawn(name: str, argv: list[str], *, port: int, log: Path,
          env: dict[str, str] | None = None, cwd: Path | None = None) -> Proc:
    started = time.monotonic()
    with log.open("ab") as out:
        popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd or ROOT,
                                 preexec_fn=_more_files,
                                 env={**os.environ, **ENV, **(env or {})})
    return Proc(name, popen, port, log, started)


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]


def wait_http(proc: Proc, path: str = "/", *, within: float = 20.0,
              ok: tuple[int, ...] = (200,)) -> float:
    """Poll `path` every 5 ms until it answers one of `ok`; return seconds since the spawn."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited {proc.popen.returncode}; see {proc.log}")
        try:
            with urllib.request.urlopen(proc.url + path, timeout=1) as resp:
                if resp.status in ok:
                    return time.monotonic() - proc.started
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return time.monotonic() - proc.started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{proc.name} not ready within {within} s; see {proc.log}")


def _more_files() -> None:
    """Raise the open-files limit: 2,000 watches are 2,000 sockets on each side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def py_spy(proc: Proc, seconds: float, out: Path, *,
           gil: bool = False) -> subprocess.Popen[bytes] | None:
    """Sample `proc` with py-spy for `seconds` into `out` (collapsed stacks), if installed."""
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        return None
    argv = [str(exe), "record", "-p", str(proc.pid), "-d", str(max(1, round(seconds))),
            "-r", "200", "--threads", "-f", "raw", "-o", str(out)] + (["--gil"] if gil else [])
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` so far, its reaped children included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def settle(pid: int, *, quiet_cores: float = 0.05, window_s: float = 0.5,
           limit_s: float = 30.0) -> float:
    """Wait until `pid` (with its reaped children) uses under `quiet_cores` of a core over
    `window_s`; how long it went on working (0 when it was quiet at once), at most about
    `limit_s` (then it says so).

    adnanh/webhook answers before its command runs: after a burst it goes on starting
    `/bin/true` for seconds, on every core. The next measurement must not share the machine
    with that backlog, and the backlog is part of webhook's own cost per request.
    """
    started = time.monotonic()
    last = process_cpu_s(pid)
    while time.monotonic() - started < limit_s:
        time.sleep(window_s)
        now = process_cpu_s(pid)
        if now - last < quiet_cores * window_s:  # quiet over this window: busy until it began
            return time.monotonic() - started - window_s
        last = now
    print(f"bench: pid {pid} still busy after {limit_s:g} s; measuring on", flush=True)
    return time.monotonic() - started


def thread_cpu_s(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each thread of `pid` so far, by thread id (the main
    thread's id is `pid`); plus, under key 0, what its reaped children used (adnanh/webhook's
    /bin/true)."""
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    out[0] = (int(fields[13]) + int(fields[14])) / CLK_TCK
    return out
