"""How large a request's body may be, enforced before anything reads it.

FastAPI reads a JSON or form body whole into memory, and it does so before a route's
dependencies run, the caller's sign-in among them: without a bound, anyone who reaches the
server could make it hold gigabytes. So every body has a bound, by what reads it:

- a JSON, form or other body read whole: ``READ_WHOLE_BYTES``, far above any email a
  person composes or any settings form;
- a file upload (``multipart/form-data``: attachments to a draft, in the console and the
  API), which Starlette spools to disk: ``MULTIPART_BYTES``, room for several attachments
  at the largest size an organization may allow (128 MB, D365's ceiling);
- an import streamed to a temporary file (``/api/<records>/import``, ``/api/mailboxes/
  bulk``): not bounded here; the route stops it at its own bound (``uploads.py``).

A declared ``Content-Length`` above the bound is refused before any of the body is read;
a body without one (chunked) is counted as it arrives and refused once it passes the bound.
Either way the refusal is raised where the body is read, so that the app answers it as any
other error: a problem document for the API, an error page in the console.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Bodies read whole into memory (JSON, forms): at most this many bytes.
READ_WHOLE_BYTES = 16 * 1024 * 1024
#: File uploads, spooled to disk: at most this many bytes a request.
MULTIPART_BYTES = 512 * 1024 * 1024
#: Routes that stream their body to a file and bound it themselves.
_STREAMED = re.compile(r"^/api/(?:[a-z_]+/import|mailboxes/bulk)$")


def bound_for(scope: Scope) -> int | None:
    """The most bytes the request's body may hold; None where the route bounds it."""
    if _STREAMED.match(scope.get("path", "")):
        return None
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return MULTIPART_BYTES if media == b"multipart/form-data" else READ_WHOLE_BYTES
    return READ_WHOLE_BYTES


def _too_large(bound: int) -> str:
    return f"the request's body is larger than allowed here ({bound:,} bytes at most)"


class BodyLimit:
    """ASGI middleware: refuses (413) a request whose body passes its bound."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        bound = bound_for(scope) if scope["type"] == "http" else None
        if bound is None:
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        received = 0

        async def counted() -> Message:
            nonlocal received
            if declared is not None and declared > bound:
                raise HTTPException(413, _too_large(bound))  # not a byte of it read
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > bound:
                    raise HTTPException(413, _too_large(bound))
            return message

        await self.app(scope, counted, send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None
