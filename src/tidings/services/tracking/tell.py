"""Stage 7, tell: what was recorded is reported as activity events in the outbox, in the
same transaction, so an event exists exactly when its activity was committed; the worker
then delivers them to the console and to webhooks (signed)."""

from __future__ import annotations

from collections.abc import Sequence

from tidings.domain.activity import EmailActivity
from tidings.services import events
from tidings.services.ports import UnitOfWork


def activities_recorded(uow: UnitOfWork, activities: Sequence[EmailActivity]) -> None:
    """Report activities just recorded, each at its own creation time."""
    events.activities_created(uow, activities)
