"""An error in one line: what is kept as a parked email's error, an alert or a log line.

An exception's own text can be very long: a database error quoting a statement with
70,000 parameters, a parser error quoting the bytes it choked on. What people read (and
what is stored) is its class and the first line of its message, cut to a few hundred
characters.
"""

from __future__ import annotations

#: Characters of an error's message kept; enough for any driver's first line.
MAX_ERROR_TEXT = 300


def first_line(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """The first non-empty line of ``text``, cut to ``limit`` characters with an ellipsis."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def brief(error: BaseException, limit: int = MAX_ERROR_TEXT) -> str:
    """``Class: first line of the message``, at most about ``limit`` characters."""
    name = type(error).__name__
    try:
        message = first_line(str(error), limit)
    except Exception:  # a broken __str__ must not hide the error it describes
        message = ""
    return f"{name}: {message}" if message else name
