"""Posting signed webhook events with httpx; every failure to get an answer becomes a
``WebhookSendError`` the delivery loop records and retries."""

from __future__ import annotations

import httpx

from tidings.domain.errors import WebhookSendError


class HttpxWebhookSender:
    """One short-lived client per post: receivers are many and rarely hit twice a second."""

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
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
