"""Logging set up once per process: one JSON object a line (or plain text, for a terminal).

Every liveblog logger (``liveblog.*``) and uvicorn's propagate to the root logger, which
gets one handler on standard error. ``liveblog serve`` calls ``configure_logging`` before
uvicorn starts and tells uvicorn not to install its own configuration (``log_config=None``),
so its lines have the same shape as ours.

A log line carries what its record says, never a request's body or headers: the access log
(``liveblog.web.access``) passes its fields in ``extra={"fields": {...}}``, which this
formatter writes as top-level keys. Nor a token: a browser's editors' replay carries one
in its query (``?replay=max&token=...``, browsers cannot set a WebSocket's headers), and
uvicorn logs each WebSocket handshake's path with its query; ``RedactTokens`` blanks the
value of every ``token`` parameter in any line, whoever logged it.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import unquote_plus

import orjson

from liveblog.settings import LOG_FORMATS

# The record attribute that ``extra={"fields": {...}}`` sets.
_FIELDS_ATTRIBUTE = "fields"
TRACE = 5  # uvicorn's level below DEBUG (``--log-level trace``)


# A query string in a line: from a "?" to the next space, quote or end.
_QUERY = re.compile(r"\?([^\s\"']+)")
SECRET_PARAMETERS = frozenset({"token"})
REDACTED = "[redacted]"


def redact_query(query: str) -> str:
    """``query`` with the value of each secret parameter replaced by ``[redacted]``.

    A name counts as the server reads it (percent-decoded, any case), so ``%74oken=``
    or ``TOKEN=`` is blanked too.
    """
    parts = query.split("&")
    for index, part in enumerate(parts):
        name, equals, _ = part.partition("=")
        if equals and unquote_plus(name).lower() in SECRET_PARAMETERS:
            parts[index] = f"{name}={REDACTED}"
    return "&".join(parts)


def redact_line(message: str) -> str:
    """A log message with every query string in it ``redact_query``'d."""
    if "=" not in message or "?" not in message:  # most lines: no query at all
        return message
    return _QUERY.sub(lambda found: "?" + redact_query(found.group(1)), message)


class RedactTokens(logging.Filter):
    """Blanks tokens in query strings from every record the handler writes.

    On the handler, so records propagated from uvicorn's loggers pass through it too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: the handler reports it as usual
            return True
        redacted = redact_line(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...fields, "exc"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, _FIELDS_ATTRIBUTE, None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a stray object in a message's fields must not lose the line.
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """The classic one-line format, with the access fields appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, _FIELDS_ATTRIBUTE, None)
        if isinstance(fields, dict) and fields:
            text += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        return text


def configure_logging(
    log_format: str = "json", level: str = "info", stream: TextIO | None = None
) -> None:
    """One handler on the root logger; liveblog's and uvicorn's loggers propagate to it."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(TRACE if level.lower() == "trace" else level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "liveblog"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
        logger.setLevel(logging.NOTSET)  # the root's level (uvicorn then sets its own)
