"""Posting signed webhook events with httpx; every failure to get an answer becomes a
``WebhookSendError`` the delivery loop records and retries."""

from __future__ import annotations

import asyncio

from tidings.adapters.webhook_targets import WebhookTargetPolicy
from tidings.domain.errors import ValidationError, WebhookSendError


class HttpxWebhookSender:
    """One short-lived client per post: receivers are many and rarely hit twice a second.

    The receiver's host is resolved and judged again before every post (``targets``): a
    name that pointed outward when subscribed may point inward now. The post connects to
    the addresses judged, in turn until one answers, never resolving the name again.
    """

    def __init__(self, targets: WebhookTargetPolicy | None = None) -> None:
        self._targets = targets or WebhookTargetPolicy()

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        try:
            destination = await asyncio.to_thread(self._targets.destination, url)
        except ValidationError as refused:
            raise WebhookSendError(f"not sent: {refused}") from refused
        # Imported at the first post: httpx brings parts of rich and pygments (about 3 MB)
        # that a worker with no webhook would hold for nothing.
        import httpx

        sent = dict(headers)
        if destination.host_header is not None:
            sent["Host"] = destination.host_header
        extensions = {"sni_hostname": destination.server_name} if destination.server_name else None
        try:
            # Redirects are not followed: a signed body goes only where it was subscribed.
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
                for n, address_url in enumerate(destination.urls, start=1):
                    try:
                        response = await client.post(
                            address_url, content=body, headers=sent, extensions=extensions
                        )
                    except httpx.ConnectError:
                        if n == len(destination.urls):
                            raise
                        continue  # the name's next address, as a browser would
                    return response.status_code
        except httpx.TimeoutException as error:
            message = f"no answer within {timeout:g} s ({type(error).__name__})"
            raise WebhookSendError(message) from error
        except httpx.HTTPError as error:
            raise WebhookSendError(str(error) or type(error).__name__) from error
        raise WebhookSendError("no address to post to")  # destination() never gives none
