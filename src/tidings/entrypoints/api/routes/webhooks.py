"""Webhook subscriptions (WRITE_SETTINGS to change, READ_SETTINGS to see) and the
deliveries of each, with every attempt."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tidings.domain.people import Caller, Privilege
from tidings.domain.webhooks import DeliveryStatus
from tidings.entrypoints.api.deps import TidingsDep, require
from tidings.entrypoints.api.webhook_schemas import (
    DeliveryPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])

Reader = Annotated[Caller, require(Privilege.READ_SETTINGS)]
Writer = Annotated[Caller, require(Privilege.WRITE_SETTINGS)]
WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("", response_model=list[WebhookPublic])
def list_webhooks(tidings: TidingsDep, caller: Reader) -> list[WebhookPublic]:
    """Every subscription; secrets are never shown again after creation."""
    return [WebhookPublic.of(s) for s in tidings.webhooks.subscriptions(caller)]


@router.post("", response_model=WebhookCreated, status_code=201)
def create_webhook(body: WebhookCreate, tidings: TidingsDep, caller: Writer) -> WebhookCreated:
    """Subscribe a URL to events; the answer holds the signing secret, this once."""
    created = tidings.webhooks.create(
        caller, body.url, [e.value for e in body.events], active=body.active
    )
    public = WebhookPublic.of(created.subscription)
    return WebhookCreated(**public.model_dump(), secret=created.secret)


@router.get("/{webhook_id}", response_model=WebhookPublic)
def get_webhook(webhook_id: WebhookId, tidings: TidingsDep, caller: Reader) -> WebhookPublic:
    return WebhookPublic.of(tidings.webhooks.get(caller, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookPublic)
def update_webhook(
    webhook_id: WebhookId, body: WebhookUpdate, tidings: TidingsDep, caller: Writer
) -> WebhookPublic:
    """Change the URL, the events, or pause and resume with ``active``."""
    subscription = tidings.webhooks.update(
        caller,
        webhook_id,
        url=body.url,
        events=[e.value for e in body.events] if body.events is not None else None,
        active=body.active,
    )
    return WebhookPublic.of(subscription)


@router.delete("/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: WebhookId, tidings: TidingsDep, caller: Writer) -> Response:
    """Remove a subscription and its deliveries."""
    tidings.webhooks.delete(caller, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryPublic])
def list_deliveries(
    webhook_id: WebhookId,
    tidings: TidingsDep,
    caller: Reader,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[DeliveryPublic]:
    """Deliveries newest first: status, attempts, last status code or error, next retry."""
    found = tidings.webhooks.deliveries(caller, webhook_id, status, limit, offset)
    return [DeliveryPublic.of(d) for d in found]
