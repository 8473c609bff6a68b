"""structlog configuration: JSON lines in production, a console renderer on a TTY.

The standard library's logging (aiohttp's server and access loggers, asyncio's "Task exception
was never retrieved", any library's warning) goes through the same processors and renderer,
so with the JSON format every line relay writes is one JSON object.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}

# The root logger's handler installed by the last configure_logging call (replaced, not
# added to, when the function runs again).
_handler: list[logging.Handler] = []


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library's logging once per process.

    `level`: debug, info, warning or error (an unknown name means info). `fmt`: auto (console
    on a terminal, JSON otherwise), json or console. `stream`: where lines go (stdout by
    default). A standard-library record becomes an event with `event` (the message), `level`,
    `timestamp`, `logger` (the logger's name) and, when it carries one, the traceback in
    `exception`. Calling it again replaces the previous configuration.
    """
    out = stream if stream is not None else sys.stdout
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
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
        logger_factory=structlog.PrintLoggerFactory(file=out),
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
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
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
