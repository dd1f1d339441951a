"""Logging: structlog to stderr, JSON lines for journald, readable on a terminal.

Every event passes through :func:`scrub_secrets`, so a password in an RTSP URL, a stream
token in a query string or any value read from the credentials directory never reaches a
log, whoever logged it (our code, a library through stdlib logging, or ffmpeg's stderr).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from agent.scrub import scrub_value

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def scrub_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secrets in every field, exception text included."""
    for key, value in list(event_dict.items()):
        event_dict[key] = scrub_value(value)
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        scrub_secrets,
    ]


def configure_logging(
    level: str = "info", stream: TextIO | None = None, json_lines: bool | None = None
) -> None:
    """Set up structlog (and stdlib logging of libraries) to write to ``stream``."""
    out = stream if stream is not None else sys.stderr
    as_json = (not out.isatty()) if json_lines is None else json_lines
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    numeric = LEVELS.get(level, logging.INFO)
    structlog.configure(
        processors=[*_shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # Libraries (zeep, paho, urllib3) log through stdlib logging: route them through the
    # same scrubbing chain, and keep their chatter at warning unless we debug.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer, foreign_pre_chain=_shared_processors()
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if numeric == logging.DEBUG else logging.WARNING)
