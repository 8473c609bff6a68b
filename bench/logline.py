"""Micro-benchmark of the canonical `delivery` log line: µs per line, before and after.

"before" is the chain relay shipped until issue 17 (structlog's JSONRenderer on the stdlib
json module, PrintLogger: one print and one flush per line); "structlog" is a structlog
logger under relay.logs' configuration as it is now (one processor, orjson, a buffered
writer flushed on a timer); "log_event" is how the webhook handler writes the line
(`relay.logs.log_event`: the same bytes without structlog's per-call layers). All write a
real file, the level is info, the event carries the fields of a 202 delivery line.
Run: `python -m bench.logline [--lines 20000]`.
"""

from __future__ import annotations

import argparse
import functools
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from relay.logs import configure_logging, flush_logs, log_event

FIELDS: dict[str, Any] = {
    "source": "github", "hook_event": "push", "outcome": "accepted", "status": 202,
    "duration_ms": 1.23, "delivery_key": "github:72d3162e-cc78-11e3-81ab-4c9367dc0958",
    "repo": "acme/web", "ref": "refs/heads/main",
    "commit": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
    "delivery_id": "github:72d3162e-cc78-11e3-81ab-4c9367dc0958", "deployments": [1234],
}


def configure_before(path: Path) -> Any:
    """The chain as it was: stdlib json, print + flush per line."""
    out = path.open("w")
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=out), cache_logger_on_first_use=False)
    return out


def per_line_us(lines: int, flush: Callable[[], None],
                write: Callable[[], None] | None = None) -> float:
    """Best of three runs of `lines` calls of `write` (a structlog logger's info by default),
    `flush` after each: µs per line."""
    if write is None:
        log = structlog.get_logger("relay.web")  # module-level, as relay.web held it
        write = functools.partial(log.info, "delivery", **FIELDS)
    for _ in range(200):
        write()
    best = float("inf")
    for _ in range(3):  # best of three: this machine is shared
        t0 = time.perf_counter()
        for _ in range(lines):
            write()
        flush()
        best = min(best, time.perf_counter() - t0)
    return best / lines * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20000)
    args = parser.parse_args(argv)
    saved = structlog.get_config()
    with tempfile.TemporaryDirectory() as tmp:
        before_file = configure_before(Path(tmp) / "before.log")
        before = per_line_us(args.lines, lambda: None)
        before_file.close()
        with (Path(tmp) / "after.log").open("w") as after_file:
            configure_logging("info", "json", stream=after_file, buffered=True)
            after = per_line_us(args.lines, flush_logs)
            cache: list[Any] = []
            direct = per_line_us(args.lines, flush_logs, lambda: log_event(
                cache, "relay.web", "info", "delivery", dict(FIELDS)))
            flush_logs()
            written = sum(1 for _ in (Path(tmp) / "after.log").open())
            configure_logging("info", "json", stream=after_file)  # stops the flusher
    structlog.configure(**saved)
    print(f"delivery log line, {args.lines} lines, best of 3: before {before:.1f} µs/line, "
          f"structlog {after:.1f} µs/line, log_event {direct:.1f} µs/line "
          f"({written} lines written by the last two)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
