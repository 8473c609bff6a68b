"""relay serve's buffered log lines: written on the timer, on flush and at close, in order,
and never lost on a clean shutdown; the JSON renderer's fallbacks."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from relay import logs
from relay.logs import LineSink, close_logging, configure_logging, flush_logs, render_json


@pytest.fixture
def restore() -> Iterator[None]:
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("aiohttp.access").level)
    try:
        yield
    finally:
        close_logging()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("aiohttp.access").setLevel(saved[2])
        structlog.configure(**saved_config)


class CountingStream(io.StringIO):
    """A stream that records how many times it was written to."""

    writes = 0

    def write(self, s: str) -> int:
        self.writes += 1
        return super().write(s)


def test_buffered_lines_wait_for_a_flush_and_come_out_in_order(restore: None) -> None:
    out = CountingStream()
    configure_logging("info", "json", stream=out, buffered=True)
    structlog.get_logger("relay").info("delivery", n=1)
    logging.getLogger("aiohttp.server").warning("library line")
    structlog.get_logger("relay").info("delivery", n=2)
    # no flush yet, unless the timer happened to run: then everything is there, in order
    flush_logs()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r.get("n", r["event"]) for r in records] == [1, "library line", 2]
    assert out.writes <= 2  # one write per flush, not per line


def test_close_writes_what_is_pending_and_stops_the_flusher(restore: None) -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out, buffered=True)
    for i in range(10):
        structlog.get_logger("relay").info("delivery", n=i)
    [sink] = logs._sink
    close_logging()
    assert [json.loads(x)["n"] for x in out.getvalue().splitlines()] == list(range(10))
    assert sink._thread is not None and not sink._thread.is_alive()


def test_a_full_buffer_is_written_without_waiting_for_the_timer(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with path.open("w") as stream:
        sink = LineSink(stream, interval_s=3600)
        line = b"x" * 1000
        for _ in range(logs.BUFFER_MAX_BYTES // 1000 + 1):
            sink.write(line)
        assert path.stat().st_size >= logs.BUFFER_MAX_BYTES  # through the binary buffer
        sink.close()
    assert path.read_bytes().count(b"\n") == logs.BUFFER_MAX_BYTES // 1000 + 1


def test_unbuffered_lines_are_written_at_once(restore: None) -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    structlog.get_logger("relay").info("relay ready")
    assert json.loads(out.getvalue())["event"] == "relay ready"


def test_json_renderer_falls_back_for_what_orjson_refuses() -> None:
    big = 2**70
    assert json.loads(render_json(None, "info", {"event": "x", "n": big})) == {"event": "x",
                                                                             "n": big}
    assert json.loads(render_json(None, "info", {"event": "x", 1: "key"})) == {"event": "x",
                                                                             "1": "key"}
    obj = object()
    assert json.loads(render_json(None, "info", {"o": obj})) == {"o": repr(obj)}

