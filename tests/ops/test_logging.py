"""Every line relay writes is JSON when the format is JSON: relay's own events and what the
standard library's loggers write (aiohttp's server and access logs, asyncio's task errors)."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient

from relay.logs import (
    bind_log_context,
    configure_logging,
    json_line,
    reset_log_context,
    utc_timestamp,
)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    text = out.getvalue()
    assert text.endswith("\n"), text
    return [json.loads(line) for line in text.splitlines()]  # every line is one JSON object


def test_relay_events_and_library_records_are_json_lines(json_log: io.StringIO) -> None:
    structlog.get_logger("relay").info("relay ready", url="http://127.0.0.1:8080")
    logging.getLogger("aiohttp.access").warning('127.0.0.1 "GET /x HTTP/1.1" %s', 404)
    logging.getLogger("aiohttp.access").info("below the access logger's level")
    [ours, access] = lines(json_log)
    assert ours["event"] == "relay ready" and ours["level"] == "info"
    assert access["event"] == '127.0.0.1 "GET /x HTTP/1.1" 404'
    assert access["logger"] == "aiohttp.access" and access["level"] == "warning"
    assert access["timestamp"].endswith("Z")


async def test_an_aiohttp_server_error_is_one_json_line_with_its_traceback(
    json_log: io.StringIO,
    aiohttp_client: Callable[..., Any],
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("handler broke")

    app = web.Application()
    app.router.add_get("/broken", broken)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    resp = await client.get("/broken")
    assert resp.status == 500
    [record] = [r for r in lines(json_log) if r.get("logger") == "aiohttp.server"]
    assert record["level"] == "error" and record["event"].startswith("Error handling request")
    assert "RuntimeError: handler broke" in record["exception"]


def test_task_exception_never_retrieved_is_a_json_line(json_log: io.StringIO) -> None:
    async def fail() -> None:
        raise ValueError("nobody awaited me")

    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(fail())
        loop.run_until_complete(asyncio.wait([task]))
        del task
        gc.collect()  # the task's finalizer reports the exception nobody retrieved
    finally:
        loop.close()
    [record] = [r for r in lines(json_log) if r.get("logger") == "asyncio"]
    assert record["event"].startswith("Task exception was never retrieved")
    assert record["level"] == "error"
    assert "ValueError: nobody awaited me" in record["exception"]


def test_configuring_again_replaces_the_handler(json_log: io.StringIO) -> None:
    second = io.StringIO()
    configure_logging("warning", "json", stream=second)
    logging.getLogger("some.library").warning("once")
    logging.getLogger("some.library").info("filtered by the level")
    assert json_log.getvalue() == ""
    [record] = lines(second)
    assert record["event"] == "once" and record["logger"] == "some.library"


def test_a_hot_path_logger_follows_a_new_logging_configuration() -> None:
    """relay.logs.bound_logger binds once, and again when logging is configured anew (the
    delivery line must not keep writing to the previous stream)."""
    from relay.logs import bound_logger, close_logging

    saved_config = structlog.get_config()
    cache: list[Any] = []
    first, second = io.StringIO(), io.StringIO()
    try:
        configure_logging("info", "json", stream=first, buffered=False)
        bound_logger("relay.web", cache).info("delivery", n=1)
        assert bound_logger("relay.web", cache) is bound_logger("relay.web", cache)
        configure_logging("info", "json", stream=second, buffered=False)
        bound_logger("relay.web", cache).info("delivery", n=2)
    finally:
        close_logging()
        structlog.configure(**saved_config)
    assert [line["n"] for line in lines(first)] == [1]
    assert [line["n"] for line in lines(second)] == [2]


def test_a_hot_path_logger_follows_a_new_level_filter() -> None:
    """A configuration that keeps the processor list but changes the wrapper class (the level
    filter) is a new configuration too."""
    from relay.logs import bound_logger, close_logging

    saved_config = structlog.get_config()
    cache: list[Any] = []
    out = io.StringIO()
    try:
        configure_logging("info", "json", stream=out, buffered=False)
        bound_logger("relay.web", cache).info("delivery", n=1)
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
        bound_logger("relay.web", cache).info("delivery", n=2)  # filtered out now
    finally:
        close_logging()
        structlog.configure(**saved_config)
    assert [line["n"] for line in lines(out)] == [1]


@pytest.mark.parametrize("method", ["debug", "info", "warning", "error"])
@pytest.mark.parametrize("threshold", ["debug", "info", "warning", "error"])
def test_log_event_writes_the_bytes_structlog_writes(
    method: str, threshold: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """relay.logs.log_event builds the delivery line itself under relay's JSON configuration:
    the same bytes as the structlog logger it stands for, the same level filter, the bound
    context merged."""
    from relay import logs

    monkeypatch.setattr(logs, "utc_timestamp", lambda: "2026-11-30T05:00:00.000001Z")
    saved_config = structlog.get_config()
    fields = {"source": "github", "outcome": "accepted", "status": 202, "duration_ms": 1.25,
              "deployments": [1, 2], "repo": "o/r", "odd": object.__new__(_Odd)}
    direct, through = io.StringIO(), io.StringIO()
    token = bind_log_context(cluster=3)
    try:
        for out, write in ((direct, lambda: logs.log_event(
                [], "relay.web", method, "delivery", dict(fields))),
                           (through, lambda: getattr(logs.bound_logger("relay.web", []),
                                                     method)("delivery", **fields))):
            configure_logging(threshold, "json", stream=out, buffered=False)
            assert logs._json_config is not None, "relay's JSON configuration is recorded"
            write()
    finally:
        reset_log_context(token)
        logs.close_logging()
        structlog.configure(**saved_config)
    assert direct.getvalue() == through.getvalue()
    written = logging.getLevelName(method.upper()) >= logging.getLevelName(threshold.upper())
    assert bool(direct.getvalue()) is written
    if written:
        [line] = lines(direct)
        assert list(line)[-5:] == ["odd", "event", "cluster", "level", "timestamp"]
        assert line["odd"] == "<odd>"  # what JSON cannot carry is its repr, as before


class _Odd:
    def __repr__(self) -> str:
        return "<odd>"


def _same_bytes_both_ways(method: str, fields: dict[str, Any],
                          monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """One log_event and one structlog call under relay's JSON configuration: their output.
    On the first, structlog's path is made to fail, so the line was built by log_event."""
    from relay import logs

    monkeypatch.setattr(logs, "utc_timestamp", lambda: "2026-11-30T05:00:00.000001Z")
    saved_config = structlog.get_config()
    direct, through = io.StringIO(), io.StringIO()
    try:
        configure_logging("debug", "json", stream=direct, buffered=False)
        with monkeypatch.context() as patched:
            patched.setattr(logs, "bound_logger", _no_structlog)
            logs.log_event([], "relay.web", method, "delivery", dict(fields))
        configure_logging("debug", "json", stream=through, buffered=False)
        getattr(logs.bound_logger("relay.web", []), method)("delivery", **fields)
    finally:
        logs.close_logging()
        structlog.configure(**saved_config)
    return direct.getvalue(), through.getvalue()


def _no_structlog(*_args: Any) -> Any:
    raise AssertionError("log_event went through structlog")


def test_log_event_builds_the_line_itself_under_relays_json_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    direct, through = _same_bytes_both_ways("info", {"outcome": "accepted"}, monkeypatch)
    assert direct == through and '"outcome":"accepted"' in direct


def test_log_event_formats_exc_info_as_structlog_does(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        raise ValueError("the store went away")
    except ValueError:
        direct, through = _same_bytes_both_ways("error", {"exc_info": True}, monkeypatch)
    assert direct == through
    assert "ValueError: the store went away" in json.loads(direct)["exception"]


def test_log_event_leaves_other_method_names_and_an_event_field_to_structlog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An alias (`warn`, `exception`) or a field named `event` is structlog's to decide."""
    from relay import logs

    saved_config = structlog.get_config()
    out = io.StringIO()
    try:
        configure_logging("info", "json", stream=out, buffered=False)
        logs.log_event([], "relay.web", "warn", "delivery", {"n": 1})
        logs.log_event([], "relay.web", "exception", "delivery", {"n": 2})
        with pytest.raises(TypeError):  # structlog's answer: event given twice
            logs.log_event([], "relay.web", "info", "delivery", {"event": "other"})
    finally:
        logs.close_logging()
        structlog.configure(**saved_config)
    assert [(line["n"], line["level"]) for line in lines(out)] == [(1, "warning"), (2, "error")]


class _HostContext(dict[str, Any]):
    """A context class that adds a field to every line (as structlog's wrap_dict can)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setdefault("host", "h1")


@pytest.mark.parametrize("change", ["level", "factory", "context"])
def test_log_event_follows_a_configuration_changed_after_relays(change: str) -> None:
    """structlog.configure after configure_logging (a level filter, another logger factory,
    another context class): the line follows structlog, not the recorded configuration."""
    from relay.logs import SinkLogger, close_logging, log_event

    saved_config = structlog.get_config()
    out, other = io.StringIO(), io.StringIO()
    try:
        configure_logging("info", "json", stream=out, buffered=False)
        if change == "level":
            structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
        elif change == "factory":
            from relay.logs import LineSink

            sink = LineSink(other, interval_s=None)
            structlog.configure(logger_factory=lambda *_args: SinkLogger(sink))
        else:
            structlog.configure(context_class=_HostContext)
        log_event([], "relay.web", "info", "delivery", {"n": 1})
        log_event([], "relay.web", "error", "delivery", {"n": 2})
    finally:
        close_logging()
        structlog.configure(**saved_config)
    if change == "level":
        assert [line["n"] for line in lines(out)] == [2]
    elif change == "factory":
        assert out.getvalue() == "" and [line["n"] for line in lines(other)] == [1, 2]
    else:
        assert [(line["n"], line["host"]) for line in lines(out)] == [(1, "h1"), (2, "h1")]


def test_log_event_goes_through_structlog_under_any_other_configuration() -> None:
    """capture_logs (and the console format) swap structlog's configuration: the line then
    reaches them, not relay's sink."""
    from relay.logs import close_logging, log_event

    saved_config = structlog.get_config()
    out = io.StringIO()
    try:
        configure_logging("info", "json", stream=out, buffered=False)
        with structlog.testing.capture_logs() as captured:
            log_event([], "relay.web", "warning", "delivery", {"outcome": "unauthorized"})
        configure_logging("info", "console", stream=out, buffered=False)
        log_event([], "relay.web", "info", "delivery", {"outcome": "accepted"})
    finally:
        close_logging()
        structlog.configure(**saved_config)
    assert captured == [{"outcome": "unauthorized", "event": "delivery",
                         "log_level": "warning"}]
    assert "delivery" in out.getvalue() and not out.getvalue().lstrip().startswith("{")


def test_a_json_line_carries_level_timestamp_and_bound_context_in_structlogs_order(
    json_log: io.StringIO,
) -> None:
    log = structlog.get_logger("relay.worker")
    token = bind_log_context(deployment_id=7, cluster=3)
    log.info("deployment finished", outcome="succeeded", cluster=99)  # the call's own wins
    log.warn("deprecated alias")
    reset_log_context(token)
    log.info("after the reset")
    text = json_log.getvalue().splitlines()
    first, alias, after = (json.loads(line) for line in text)
    # the call's fields, `event`, the bound context, then level and timestamp: the order
    # structlog's chain (merge, add_log_level, TimeStamper) gave before json_line
    assert list(first) == ["outcome", "cluster", "event", "deployment_id", "level", "timestamp"]
    assert first["cluster"] == 99 and first["deployment_id"] == 7
    assert alias["level"] == "warning" and "deployment_id" in alias
    assert "deployment_id" not in after and "cluster" not in after


async def test_bound_context_stays_with_its_task(json_log: io.StringIO) -> None:
    log = structlog.get_logger("relay.worker")
    started = asyncio.Event()
    release = asyncio.Event()

    async def deploy(dep: int) -> None:
        token = bind_log_context(deployment_id=dep)
        started.set()
        await release.wait()
        log.info("step")
        reset_log_context(token)

    one = asyncio.create_task(deploy(1))
    await started.wait()
    log.info("beside it")  # this task bound nothing
    release.set()
    await one
    beside, step = lines(json_log)
    assert "deployment_id" not in beside and step["deployment_id"] == 1


def test_an_exception_is_logged_with_its_traceback_and_the_error_level(
    json_log: io.StringIO,
) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("relay").exception("deployment crashed")
    [line] = lines(json_log)
    assert line["level"] == "error" and "exc_info" not in line
    assert line["exception"].startswith("Traceback") and "ValueError: boom" in line["exception"]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("now_ns", [0, 1_500_000_000, 1_764_464_523_000_456_000,
                                    1_764_464_523_000_001_000, 1_764_464_523_000_000_999,
                                    1_764_464_523_999_999_999, 4_102_444_800_000_000_000])
def test_utc_timestamp_is_structlogs_iso_utc_text_with_microseconds(now_ns: int) -> None:
    # the same clock reading, truncated to microseconds as datetime.now() is
    expected = _EPOCH + timedelta(microseconds=now_ns // 1000)
    stamp = utc_timestamp(now_ns)
    assert stamp == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if expected.microsecond:  # structlog's text: isoformat, which leaves out a zero fraction
        assert stamp == expected.isoformat().replace("+00:00", "Z")


def test_utc_timestamp_of_now_moves_with_the_clock() -> None:
    before = datetime.now(UTC)
    parsed = datetime.fromisoformat(utc_timestamp().replace("Z", "+00:00"))
    after = datetime.now(UTC)
    assert before - timedelta(microseconds=1) <= parsed <= after


def test_a_key_bound_again_takes_its_new_value_until_that_bind_is_reset(
    json_log: io.StringIO,
) -> None:
    log = structlog.get_logger("relay")
    outer = bind_log_context(a=1, b=2)
    inner = bind_log_context(a=3, c=4)
    log.info("inner")
    reset_log_context(inner)
    log.info("outer")
    reset_log_context(outer)
    first, second = lines(json_log)
    assert (first["a"], first["b"], first["c"]) == (3, 2, 4)
    assert (second["a"], second["b"]) == (1, 2) and "c" not in second


@pytest.mark.parametrize(("method", "level"), [("warn", "warning"), ("exception", "error"),
                                               ("critical", "critical"), ("info", "info")])
def test_json_line_names_the_level_as_structlogs_add_log_level(method: str,
                                                               level: str) -> None:
    line = json.loads(json_line(None, method, {"event": "x"}))
    assert line["level"] == level and list(line) == ["event", "level", "timestamp"]


def _raised() -> ValueError:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        return exc


@pytest.mark.parametrize("exc_info", [
    _raised(), (ValueError, _raised(), _raised().__traceback__)], ids=["instance", "tuple"])
def test_json_line_formats_an_exception_given_as_exc_info(exc_info: Any) -> None:
    line = json.loads(json_line(None, "error", {"event": "x", "exc_info": exc_info}))
    assert "exc_info" not in line and "ValueError: boom" in line["exception"]


def test_json_line_drops_a_false_exc_info_without_a_traceback() -> None:
    line = json.loads(json_line(None, "info", {"event": "x", "exc_info": False}))
    assert "exc_info" not in line and "exception" not in line


def test_library_records_and_console_lines_carry_the_bound_context(
    json_log: io.StringIO,
) -> None:
    token = bind_log_context(deployment_id=5)
    try:
        logging.getLogger("aiohttp.server").error("from a library")
        [record] = lines(json_log)
        assert record["deployment_id"] == 5 and record["logger"] == "aiohttp.server"
        console = io.StringIO()
        configure_logging("info", "console", stream=console)
        structlog.get_logger("relay").info("on a terminal")
        assert "deployment_id=5" in re.sub(r"\x1b\[[0-9;]*m", "", console.getvalue())
    finally:
        reset_log_context(token)
