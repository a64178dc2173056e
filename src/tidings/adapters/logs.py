"""The logs of Tidings' long-running processes, as text lines (the default) or as one JSON
object per line (``TIDINGS_LOG_FORMAT=json``), that never hold credentials, tokens or email
bodies.

Every record of the standard library's logging (Tidings', uvicorn's, the libraries') goes
through structlog's formatter; fields whose names say they hold a secret or an email's
content are replaced, and token-shaped words in messages are masked, so that a careless log
call elsewhere cannot leak them. Text and JSON differ only in the last step.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

REDACTED = "[redacted]"

#: Field names whose values are never written out.
_SECRET_FIELD = re.compile(
    r"pass(word)?|secret|token|authori[sz]ation|cookie|credential|api[_-]?key|"
    r"body|raw|html|content|payload",
    re.IGNORECASE,
)
#: Secret-shaped words inside free text: bearer tokens, Tidings' own API tokens and webhook
#: secrets, and ``password=…``-style assignments.
_SECRET_TEXT = re.compile(
    r"(?i)(bearer\s+)[^\s,;\"']+|\b(tdg|whsec)_[A-Za-z0-9_\-]+|"
    r"\b(pass(?:word)?|secret|token|client_secret|refresh_token|access_token)"
    r"(\s*[=:]\s*)[^\s,;&\"']+"
)


#: What SQLAlchemy appends to a database error: the statement and its parameters, which
#: may hold an email's addresses or text.
_SQL_DETAIL = re.compile(r"\[(SQL|parameters): .*?\](?=\s*(\n|\[|\(Background|$))", re.DOTALL)


def _mask(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(1) + REDACTED
        if match.group(2):
            return f"{match.group(2)}_{REDACTED}"
        return f"{match.group(3)}{match.group(4)}{REDACTED}"

    return _SECRET_TEXT.sub(replace, _SQL_DETAIL.sub(lambda m: f"[{m.group(1)}: {REDACTED}]", text))


def redact(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: secret fields replaced, secret-shaped words masked."""
    for key in list(event):
        if key != "event" and _SECRET_FIELD.search(key):
            event[key] = REDACTED
        elif isinstance(event[key], str):
            event[key] = _mask(event[key])
    return event


#: What would let text from outside (a server's reply, a folder's or a person's name) forge
#: a log line of its own, recolour or move about the operator's terminal, or show itself in
#: another order than it is written (bidirectional overrides): control characters, Unicode's
#: line and paragraph separators and its directional embeddings, overrides and isolates.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE_IN_LINE = re.compile(f"[\n{_UNSAFE}]")
#: A traceback (or a stack) spans lines of its own, after the record's line.
_UNSAFE_IN_TRACEBACK = re.compile(f"[{_UNSAFE}]")
_MULTILINE = frozenset({"exception", "stack"})


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r"}.get(char)
    if named:
        return named
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def one_line_each(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor for text logs: each record is one line, whatever its values
    hold; what could mislead is written as an escape (``\\n``, ``\\x1b``, ``\\u202e``)."""
    for key, value in event.items():
        if isinstance(value, str):
            unsafe = _UNSAFE_IN_TRACEBACK if key in _MULTILINE else _UNSAFE_IN_LINE
            event[key] = unsafe.sub(_escaped, value)
    return event


def _drop_color_message(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # uvicorn repeats each message with terminal colour codes as an extra field.
    event.pop("color_message", None)
    return event


def configure_logging(log_format: Literal["text", "json"], level: int = logging.INFO) -> None:
    """Send every log record to standard error, redacted: as a line of text with its time,
    level and logger, or as one JSON object per line."""
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
    ]
    # JSON escapes what needs it itself.
    last: list[Any] = (
        [structlog.processors.JSONRenderer()]
        if log_format == "json"
        # A plain file or journald reads these: no colours, no padding of the event.
        else [one_line_each, structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0)]
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            *last,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # procrastinate tells of every job deferred, started and ended at INFO, each line with
    # the whole job: a worker's periodic chores and hold jobs made seven lines in ten of its
    # log, half a megabyte in a 20-second first sync. Its warnings and errors stay; DEBUG
    # shows the rest.
    quiet = level if level <= logging.DEBUG else max(level, logging.WARNING)
    logging.getLogger("procrastinate").setLevel(quiet)
    # uvicorn's loggers keep their own handlers unless told otherwise: send them to root.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
