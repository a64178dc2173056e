"""One app registration talking to Graph for one mailbox: bearer tokens, immutable ids, and
every error translated (``errors.py``).

A 401 gets one fresh token and one more try: tokens can be revoked or expire before MSAL's
cache thinks so. Each request asks for immutable ids, so a message keeps its id when moved
(learn.microsoft.com/graph/outlook-immutable-id); the preference applies per request.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import quote

import httpx

from tidings.adapters.graph.errors import error_code, graph_error, transport_error
from tidings.adapters.graph.settings import GraphSettings
from tidings.adapters.graph.tokens import GraphTokens
from tidings.adapters.tls import tls_context
from tidings.domain.server_profile import ServerProfile

IMMUTABLE_IDS = 'IdType="ImmutableId"'


class GraphClient:
    """Graph calls for one mailbox, each with a valid token and errors in an admin's words."""

    def __init__(
        self, tokens: GraphTokens, settings: GraphSettings, profile: ServerProfile, address: str
    ) -> None:
        self.settings = settings
        self.address = address
        self._tokens = tokens
        self._profile = profile
        self._http = httpx.AsyncClient(
            verify=tls_context(profile), timeout=settings.timeout_seconds
        )

    @property
    def user_url(self) -> str:
        """The mailbox's base URL: ``/users/{address}``."""
        return f"{self.settings.api}/users/{quote(self.address, safe='@')}"

    async def token(self, *, refresh: bool = False) -> str:
        return await self._tokens.token(self.settings, self._profile, refresh=refresh)

    async def request(
        self,
        method: str,
        url: str,
        *,
        permission: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        missing_ok: bool = False,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> httpx.Response | None:
        """The successful response; None for a missing item when ``missing_ok``.

        ``before_send`` is awaited once, right before the first request goes out.
        """
        prefer = ", ".join(p for p in (IMMUTABLE_IDS, (headers or {}).get("Prefer")) if p)
        response: httpx.Response | None = None
        for refresh in (False, True):
            token = await self.token(refresh=refresh)
            sent = {**(headers or {}), "Authorization": f"Bearer {token}", "Prefer": prefer}
            if before_send is not None:
                await before_send()
                before_send = None
            try:
                # An empty params mapping would drop a link's own query: pass None instead.
                response = await self._http.request(
                    method, url, params=params or None, headers=sent, content=content
                )
            except httpx.HTTPError as error:
                raise transport_error(self.settings.graph_url, error) from error
            if response.status_code != 401:
                break
        assert response is not None  # noqa: S101 - the loop ran at least once
        if response.is_success:
            return response
        if (
            missing_ok
            and response.status_code == 404
            and error_code(response) == "ErrorItemNotFound"
        ):
            return None
        raise graph_error(response, address=self.address, permission=permission)

    async def get_json(
        self,
        url: str,
        *,
        permission: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, object]:
        response = await self.request(
            "GET", url, permission=permission, params=params, headers=headers
        )
        assert response is not None  # noqa: S101 - not missing_ok
        body = response.json()
        return body if isinstance(body, dict) else {}

    async def send_json(
        self, method: str, url: str, body: Mapping[str, object], *, permission: str
    ) -> dict[str, object]:
        """POST or PATCH a JSON body; the JSON answer."""
        response = await self.request(
            method,
            url,
            permission=permission,
            headers={"Content-Type": "application/json"},
            content=json.dumps(body).encode(),
        )
        assert response is not None  # noqa: S101 - not missing_ok
        answer = response.json()
        return answer if isinstance(answer, dict) else {}

    async def aclose(self) -> None:
        await self._http.aclose()
