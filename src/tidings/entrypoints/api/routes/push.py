"""Change notifications from mail APIs: Graph posts here when a subscribed folder gains mail.

The one route without sign-in, by necessity: Microsoft cannot sign in to Tidings. The
receiver checks Graph's own proof (the subscription's clientState) and a notification only
makes sync look again, so this endpoint can cost a request, never reveal or change data.
Kept out of the OpenAPI document, which lists the signed-in API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
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
    reply = tidings.mail_push.receive(kind, dict(request.query_params), bytes(body))
    # The validation token is echoed as text that no browser may take for a page.
    headers = {"X-Content-Type-Options": "nosniff"}
    return PlainTextResponse(reply.text, status_code=reply.status, headers=headers)
