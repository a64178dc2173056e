"""What the webhooks API takes and returns."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from tidings.domain.webhooks import (
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookSubscription,
)

Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        pattern=r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/.*)?$",
        examples=["https://crm.example/hook"],
    ),
]
Events = Annotated[list[EventType], Field(min_length=1)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url
    events: Events
    active: bool = True


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url | None = None
    events: Events | None = None
    active: bool | None = None


class WebhookPublic(BaseModel):
    id: int
    url: str
    events: list[EventType]
    active: bool
    created_at: datetime | None

    @classmethod
    def of(cls, subscription: WebhookSubscription) -> "WebhookPublic":
        assert subscription.id is not None  # noqa: S101 - stored
        return cls(
            id=subscription.id,
            url=subscription.url,
            events=sorted(subscription.events),
            active=subscription.active,
            created_at=subscription.created_at,
        )


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description="Signs every delivery (X-Tidings-Signature); shown only in this answer"
    )


class AttemptPublic(BaseModel):
    number: int
    attempted_at: datetime
    status_code: int | None
    error: str | None


class DeliveryPublic(BaseModel):
    id: int
    event_id: int
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="When the next try is due, if any")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    history: list[AttemptPublic]

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> "DeliveryPublic":
        return cls(
            id=delivery.id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            history=[
                AttemptPublic(
                    number=a.number,
                    attempted_at=a.attempted_at,
                    status_code=a.status_code,
                    error=a.error,
                )
                for a in delivery.history
            ],
        )
