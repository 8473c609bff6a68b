"""Every line relay writes is JSON when the format is JSON: relay's own events and what the
standard library's loggers write (aiohttp's server and access logs, asyncio's task errors)."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient

from relay.logs import configure_logging


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """configure_logging(json) into a buffer; the previous logging setup restored after."""
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("aiohttp.access").level)
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    try:
        yield out
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("aiohttp.access").setLevel(saved[2])
        structlog.configure(**saved_config)


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
