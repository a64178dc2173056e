"""Posting signed webhook events with httpx; every failure to get an answer becomes a
``WebhookSendError`` the delivery loop records and retries."""

from __future__ import annotations

import asyncio

from tidings.adapters.webhook_targets import WebhookTargetPolicy
from tidings.domain.errors import ValidationError, WebhookSendError


class HttpxWebhookSender:
    """One short-lived client per post: receivers are many and rarely hit twice a second.

    The receiver's host is resolved and judged again before every post (``targets``): a
    name that pointed outward when subscribed may point inward now.
    """

    def __init__(self, targets: WebhookTargetPolicy | None = None) -> None:
        self._targets = targets or WebhookTargetPolicy()

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        try:
            await asyncio.to_thread(self._targets.check, url)
        except ValidationError as refused:
            raise WebhookSendError(f"not sent: {refused}") from refused
        # Imported at the first post: httpx brings parts of rich and pygments (about 3 MB)
        # that a worker with no webhook would hold for nothing.
        import httpx

        try:
            # Redirects are not followed: a signed body goes only where it was subscribed.
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as error:
            message = f"no answer within {timeout:g} s ({type(error).__name__})"
            raise WebhookSendError(message) from error
        except httpx.HTTPError as error:
            raise WebhookSendError(str(error) or type(error).__name__) from error
        return response.status_code
