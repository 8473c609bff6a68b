"""structlog configuration: JSON lines in production, a console renderer on a TTY.

The standard library's logging (aiohttp's server and access loggers, asyncio's "Task exception
was never retrieved", any library's warning) gets the same fields and the same renderer, so
with the JSON format every line relay writes is one JSON object.

The JSON path is kept cheap because the webhook handler writes one line per delivery: one
processor (`json_line`: context, level, timestamp, traceback and rendering in a single call),
relay's own context-local fields (`bind_log_context`, not structlog.contextvars), orjson as
the serializer (the standard library's json when orjson is not installed) and, for
`relay serve`, a buffered writer that appends lines to a list and writes
them in one call every FLUSH_INTERVAL_S, when BUFFER_MAX_BYTES are pending, and at shutdown.
A crash (SIGKILL, OOM) can lose the lines of the last interval; never a delivery, which is
committed before its answer whatever happens to its log line (docs/operations.md, "Logs").
"""

from __future__ import annotations

import atexit
import contextvars
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any, NamedTuple, TextIO

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


# Fields added to every line logged in the current context (a task and the tasks it starts):
# relay's own context-local log context, one ContextVar holding (key, value) pairs, so that
# merging it is one lookup instead of structlog's scan of the whole context per line.
_CONTEXT: contextvars.ContextVar[tuple[tuple[str, Any], ...]] = contextvars.ContextVar(
    "relay_log_context", default=())


def bind_log_context(**fields: Any) -> contextvars.Token[tuple[tuple[str, Any], ...]]:
    """Add `fields` to every line logged from here on in this context (the current task and
    the tasks it creates after the call), until `reset_log_context(token)` with the token
    returned. A key bound again takes its new value (until that bind is reset); a field the
    log call names itself wins over a bound one. structlog's own
    `structlog.contextvars.bind_contextvars` is not merged: relay binds through this."""
    kept = tuple(pair for pair in _CONTEXT.get() if pair[0] not in fields)
    return _CONTEXT.set(kept + tuple(fields.items()))


def reset_log_context(token: contextvars.Token[tuple[tuple[str, Any], ...]]) -> None:
    """Undo the `bind_log_context` call that returned `token`.

    Raises ValueError when called in another context than the bind (a coroutine closed by
    the garbage collector outside its task) and RuntimeError when the token was used before.
    """
    _CONTEXT.reset(token)


def merge_log_context(_logger: Any, _name: str,
                      event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the fields `bind_log_context` bound, unless the call names them."""
    for key, value in _CONTEXT.get():
        event_dict.setdefault(key, value)
    return event_dict


# The whole second of the last timestamp, as text: one (seconds, text) tuple, replaced whole
# so that a thread never reads the text of another second.
_second: tuple[int, str] = (-1, "")


def utc_timestamp(now_ns: int | None = None) -> str:
    """`now_ns` (nanoseconds since the epoch, `time.time_ns()` by default) as ISO 8601 UTC
    with microseconds, truncated: "2026-11-30T01:02:03.000456Z". The text of the second is
    made once per second. structlog's TimeStamper(fmt="iso", utc=True) gives the same text
    for the same clock reading, except that it leaves the fraction out when it is zero."""
    global _second
    whole, micros = divmod((time.time_ns() if now_ns is None else now_ns) // 1000, 1_000_000)
    seen, text = _second
    if whole != seen:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, text)
    return f"{text}.{micros:06d}Z"


# structlog's map_method_name: `warn` is the stdlib's alias, `exception` logs at error.
_LEVEL_OF_METHOD = {"warn": "warning", "exception": "error"}


def json_line(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> bytes:
    """structlog processor, the whole JSON chain in one call: the bound log context
    (`merge_log_context`), `level` (structlog's add_log_level), `timestamp`
    (`utc_timestamp`), an `exc_info` turned into `exception` (structlog's format_exc_info),
    then the line (`render_json`). Keys come in that order after the call's own fields."""
    merge_log_context(logger, method_name, event_dict)
    event_dict["level"] = _LEVEL_OF_METHOD.get(method_name, method_name)
    event_dict["timestamp"] = utc_timestamp()
    if "exc_info" in event_dict:
        event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
    return _dumps(event_dict)


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
    processors, wrapper = config["processors"], config["wrapper_class"]
    factory, context = config["logger_factory"], config["context_class"]
    if cache:  # compared one by one: this runs once per delivery
        seen = cache[0]
        if (seen[0] is processors and seen[1] is wrapper and seen[2] is factory
                and seen[3] is context):
            return cache[1]
    bound = structlog.get_logger(name).bind()
    cache[:] = [(processors, wrapper, factory, context), bound]
    return bound


class _JsonConfig(NamedTuple):
    """structlog's configuration as relay's JSON `configure_logging` left it (the objects,
    compared by identity; its context class is `dict`), with that call's sink and level
    threshold."""

    processors: Any
    wrapper: Any
    factory: Any
    sink: LineSink
    threshold: int


# set by configure_logging for the JSON format, None for the console (replaced whole: a
# thread reads it once)
_json_config: _JsonConfig | None = None
_ONLY_JSON_LINE = [json_line]  # relay's JSON processor list, compared in one step


def log_event(cache: list[Any], name: str, method: str, event: str,
              fields: dict[str, Any]) -> None:
    """Write `bound_logger(name, cache).<method>(event, **fields)`: the same line, cheaper.

    `method`: "debug", "info", "warning" or "error" (another name, or a field named `event`,
    goes through structlog, which decides). While the configuration that relay's JSON
    `configure_logging` made is in force (the same structlog processor list holding only
    `json_line`, the same wrapper class, logger factory and context class, a plain dict), the
    line is built here: the call's fields, then `event`, through `json_line` into the sink,
    as structlog's filtering bound logger would (structlog 24-26:
    `BoundLoggerBase._process_event`), without its per-call layers. The processor list is
    compared by its contents too, because `structlog.testing.capture_logs` changes that list
    in place. Any other configuration (the console format, capture_logs, a test's own) goes
    through structlog.

    `python -m bench.logline`: 2.9 µs a line, against 5.8 µs for a structlog logger under
    the same configuration; in the server, where this writes the canonical line of every
    delivery, the gain stayed inside the noise (bench/RESULTS.md, issue 17 part 9).
    """
    config = structlog.get_config()
    direct = _json_config
    level = _LEVELS.get(method)
    if (direct is not None and level is not None and "event" not in fields
            and config["processors"] is direct.processors
            and config["processors"] == _ONLY_JSON_LINE
            and config["wrapper_class"] is direct.wrapper
            and config["logger_factory"] is direct.factory
            and config["context_class"] is dict):
        if level >= direct.threshold:
            event_dict = dict(fields)
            event_dict["event"] = event
            direct.sink.write(json_line(None, method, event_dict))
        return
    getattr(bound_logger(name, cache), method)(event, **fields)


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
    threshold = _LEVELS.get(level, logging.INFO)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    # JSON: one processor does it all (json_line); the console keeps structlog's own chain.
    processors: list[Callable[..., Any]] = [json_line] if not console else [
        merge_log_context,
        structlog.processors.add_log_level,
        timestamper,
        structlog.processors.format_exc_info,
        structlog.dev.ConsoleRenderer(),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=lambda *_args: SinkLogger(sink),
        context_class=dict,  # log_event's lines start from an empty dict, as structlog's
        cache_logger_on_first_use=False,
    )
    global _json_config
    config = structlog.get_config()
    _json_config = None if console else _JsonConfig(
        config["processors"], config["wrapper_class"], config["logger_factory"], sink,
        threshold)

    # Records of the standard library's loggers: the same fields, the same renderer.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            merge_log_context,
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
