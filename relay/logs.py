"""structlog configuration: JSON lines in production, a console renderer on a TTY.

The standard library's logging (aiohttp's server and access loggers, asyncio's "Task exception
was never retrieved", any library's warning) goes through the same processors and renderer,
so with the JSON format every line relay writes is one JSON object.

The JSON path is kept cheap because the webhook handler writes one line per delivery: a short
processor chain, orjson as the serializer (the standard library's json when orjson is not
installed) and, for `relay serve`, a buffered writer that appends lines to a list and writes
them in one call every FLUSH_INTERVAL_S, when BUFFER_MAX_BYTES are pending, and at shutdown.
A crash (SIGKILL, OOM) can lose the lines of the last interval; never a delivery, which is
committed before its answer whatever happens to its log line (docs/operations.md, "Logs").
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
import threading
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import structlog

try:  # a fast serializer; the standard library's when orjson is missing
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; kept for a bare install
    orjson = None  # type: ignore[assignment]

FLUSH_INTERVAL_S = 0.15  # how stale a buffered line can be (and how much a crash can lose)
BUFFER_MAX_BYTES = 64 * 1024  # written at once past this, whatever the timer

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}

# The root logger's handler installed by the last configure_logging call (replaced, not
# added to, when the function runs again).
_handler: list[logging.Handler] = []


def _fallback(obj: Any) -> Any:
    """What JSON cannot carry is logged as its repr (as structlog's JSONRenderer does)."""
    return repr(obj)


def _dumps(event_dict: MutableMapping[str, Any]) -> bytes:
    """One JSON object as UTF-8 bytes: orjson, or the standard library for what orjson refuses
    (integers past 64 bits, keys that are not strings) or when it is not installed."""
    if orjson is not None:
        try:
            return orjson.dumps(event_dict, default=_fallback)
        except TypeError:
            pass
    return json.dumps(event_dict, default=_fallback).encode()


def render_json(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> bytes:
    """structlog processor: the event as one JSON object (bytes, without the newline)."""
    return _dumps(event_dict)


def _render_json_str(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> str:
    return _dumps(event_dict).decode()


class LineSink:
    """Where rendered lines go: straight to `stream` (unbuffered), or into a buffer that a
    daemon thread writes every `interval_s` seconds, past BUFFER_MAX_BYTES, on flush() and at
    exit. Thread-safe: lines may come from the event loop and from worker threads."""

    def __init__(self, stream: TextIO, *, interval_s: float | None) -> None:
        self._stream = stream
        self._binary = getattr(stream, "buffer", None)  # write bytes without a decode
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._size = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.buffered = interval_s is not None
        if interval_s is not None:
            self._thread = threading.Thread(target=self._run, args=(interval_s,),
                                            name="relay-log-flush", daemon=True)
            self._thread.start()

    def write(self, line: bytes | str) -> None:
        """One line, without its newline."""
        data = (line if isinstance(line, bytes) else line.encode()) + b"\n"
        if not self.buffered:
            with self._lock:
                self._emit(data)
            return
        self._pending.append(data)  # list.append is atomic; flush() swaps the list under lock
        self._size += len(data)
        if self._size >= BUFFER_MAX_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write every pending line now."""
        with self._lock:
            if not self._pending:
                return
            pending, self._pending, self._size = self._pending, [], 0
            self._emit(b"".join(pending))

    def close(self) -> None:
        """Stop the flusher thread (awaited) and write what is pending."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self.flush()

    def _emit(self, data: bytes) -> None:
        try:
            if self._binary is not None:
                self._stream.flush()  # text written to the same stream by others goes first
                self._binary.write(data)
                self._binary.flush()
            else:
                self._stream.write(data.decode())
                self._stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: the lines are dropped
            pass

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.flush()


class SinkLogger:
    """structlog's wrapped logger: every level method writes the rendered line to the sink."""

    def __init__(self, sink: LineSink) -> None:
        self._sink = sink

    def msg(self, message: bytes | str) -> None:
        self._sink.write(message)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


class _SinkHandler(logging.Handler):
    """The standard library's records, formatted by structlog, into the same sink (so their
    lines and relay's own keep their order)."""

    def __init__(self, sink: LineSink) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.write(self.format(record))
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)


_sink: list[LineSink] = []  # the sink of the last configure_logging call


def bound_logger(name: str, cache: list[Any]) -> Any:
    """`structlog.get_logger(name)` bound once per structlog configuration, for a hot path.

    structlog's lazy proxy binds a new logger on every call (relay does not let structlog
    cache it: configure_logging may be called again, and structlog.testing.capture_logs
    swaps the processors). `cache` ([config objects, logger], kept by the caller) holds the
    bound one while structlog's processor list, wrapper class, logger factory and context
    class are the same objects.
    """
    config = structlog.get_config()
    key = (config["processors"], config["wrapper_class"], config["logger_factory"],
           config["context_class"])
    if cache and all(a is b for a, b in zip(cache[0], key, strict=True)):
        return cache[1]
    bound = structlog.get_logger(name).bind()
    cache[:] = [key, bound]
    return bound


def flush_logs() -> None:
    """Write the buffered log lines now (relay serve calls it at shutdown; also at exit)."""
    for sink in _sink:
        sink.flush()


def close_logging() -> None:
    """Stop the flusher thread and write what is pending (idempotent)."""
    for sink in _sink:
        sink.close()


atexit.register(close_logging)


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None,
                      *, buffered: bool = False) -> None:
    """Configure structlog and the standard library's logging once per process.

    `level`: debug, info, warning or error (an unknown name means info). `fmt`: auto (console
    on a terminal, JSON otherwise), json or console. `stream`: where lines go (stdout by
    default). `buffered`: lines are written by a thread every FLUSH_INTERVAL_S (and at
    shutdown, flush_logs/close_logging, and at exit) instead of one write per line; a crash
    may lose the last interval's lines. A standard-library record becomes an event with
    `event` (the message), `level`, `timestamp`, `logger` (the logger's name) and, when it
    carries one, the traceback in `exception`. Calling it again replaces the previous
    configuration (and stops the previous flusher thread after writing its lines).
    """
    out = stream if stream is not None else sys.stdout
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    close_logging()
    sink = LineSink(out, interval_s=FLUSH_INTERVAL_S if buffered else None)
    _sink[:] = [sink]
    renderer: Callable[..., Any] = (
        structlog.dev.ConsoleRenderer() if console else render_json
    )
    threshold = _LEVELS.get(level, logging.INFO)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            timestamper,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=lambda *_args: SinkLogger(sink),
        cache_logger_on_first_use=False,
    )

    # Records of the standard library's loggers: the same fields, the same renderer.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            timestamper,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # A console renderer prints the traceback itself; JSON needs it as a string.
            *([] if console else [structlog.processors.format_exc_info]),
            structlog.dev.ConsoleRenderer() if console else _render_json_str,
        ],
    )
    handler = _SinkHandler(sink)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in _handler:
        root.removeHandler(old)
    _handler[:] = [handler]
    root.addHandler(handler)
    root.setLevel(threshold)
    # aiohttp's own access log would duplicate the canonical delivery line.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
