"""Change notifications from mail APIs: Graph posts here when a subscribed folder gains mail,
Google's Pub/Sub when a watched Gmail mailbox changes.

The one route without sign-in, by necessity: Microsoft and Google cannot sign in to Tidings.
The receiver checks the vendor's own proof (Graph's clientState, Pub/Sub's OIDC token) and a
notification only makes sync look again, so this endpoint can cost a request, never reveal
or change data.
Kept out of the OpenAPI document, which lists the signed-in API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from tidings.entrypoints.api.deps import TidingsDep
from tidings.services.mail_push import MAX_BODY_BYTES

router = APIRouter(prefix="/api/push", include_in_schema=False)


@router.post("/{kind}")
async def receive(kind: str, request: Request, tidings: TidingsDep) -> PlainTextResponse:
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:  # refused before reading
        return PlainTextResponse("", status_code=413)
    # A chunked body declares no length: it is read only up to the limit, never further.
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return PlainTextResponse("", status_code=413)
    # In a worker thread: checking a token may fetch the vendor's keys, and this event loop
    # may be the one that runs sync (``tidings serve --worker``).
    reply = await run_in_threadpool(
        tidings.mail_push.receive,
        kind,
        dict(request.query_params),
        bytes(body),
        dict(request.headers),
    )
    # The validation token is echoed as text that no browser may take for a page.
    headers = {"X-Content-Type-Options": "nosniff"}
    return PlainTextResponse(reply.text, status_code=reply.status, headers=headers)
