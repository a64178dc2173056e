"""``Cache-Control: no-store`` on every API answer: they hold email, addresses and secrets
(an API token or a webhook's signing secret, shown once), which no browser or proxy cache
may keep. The console sets the same on its own pages (web/console.py)."""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Swagger UI's scripts and styles: the same for everyone, cached as usual.
_CACHEABLE = "/api/docs/static/"


class NoStoreApi:
    """ASGI middleware: marks the API's responses not to be stored."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/api" or path.startswith("/api/")) or path.startswith(_CACHEABLE):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_no_store)
