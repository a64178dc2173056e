"""RFC 7240 preferences: what a client would rather the server did (``Prefer``), which the
server may honour or ignore, saying which it honoured (``Preference-Applied``)."""

from typing import Annotated

from fastapi import Header

RESPOND_ASYNC = "respond-async"

#: The ``Prefer`` header(s) of a request: RFC 7240 lets a client send several.
PreferHeader = Annotated[
    list[str] | None,
    Header(
        alias="Prefer",
        description="RFC 7240 preferences; `respond-async`: answer 202 Accepted once the "
        "work is queued rather than when it is done. Honoured only where workers share a "
        "task queue (PostgreSQL); otherwise ignored, as RFC 7240 allows, and the work is done "
        "before the answer. `Preference-Applied` says when it was honoured",
    ),
]


def prefers(headers: list[str] | None, preference: str) -> bool:
    """Whether any of the ``Prefer`` headers names ``preference``, with or without a value or
    parameters (``respond-async``, ``wait=10; x``); names are case-insensitive."""
    for header in headers or []:
        for item in header.split(","):
            name = item.split(";", 1)[0].split("=", 1)[0].strip()
            if name.lower() == preference:
                return True
    return False
