"""Tracking by hand, as D365's app for Outlook does: track, untrack, set regarding."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordRef
from tidings.entrypoints.api.admin_schemas import PROBLEMS, PathId
from tidings.entrypoints.api.deps import TidingsDep, require
from tidings.entrypoints.api.mailbox_schemas import (
    KeptEmailPublic,
    RegardingIn,
    RegardingPublic,
    TrackIn,
    TrackPublic,
    UntrackIn,
)

router = APIRouter(prefix="/api", tags=["activities"], responses=PROBLEMS)

#: Without the tracking role: "You haven't been authorized to use this app".
Tracker = Annotated[Caller, require(Privilege.TRACK_EMAIL)]


@router.get("/mailboxes/{mailbox_id}/not-tracked", summary="Kept email that is not tracked")
def not_tracked(
    mailbox_id: PathId,
    tidings: TidingsDep,
    caller: Tracker,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[KeptEmailPublic]:
    """Newest first, each with why it was not tracked: what can be tracked by hand."""
    found = tidings.manual_tracking.not_tracked(caller, mailbox_id, limit=limit, offset=offset)
    return [KeptEmailPublic.of(k) for k in found]


@router.post(
    "/activities/track", status_code=status.HTTP_201_CREATED, summary="Track an email by hand"
)
def track(body: TrackIn, tidings: TidingsDep, caller: Tracker) -> TrackPublic:
    """An email kept from a mailbox but not tracked becomes an activity, through the same
    recording path as sync. Name it by ``raw_message_id`` or ``message_id``."""
    if (body.raw_message_id is None) == (body.message_id is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "give raw_message_id or message_id, not both"
        )
    if body.raw_message_id is not None:
        result = tidings.manual_tracking.track(caller, body.raw_message_id)
    else:
        assert body.message_id is not None  # noqa: S101 - checked above
        result = tidings.manual_tracking.track_message_id(caller, body.message_id)
    return TrackPublic(
        raw_message_id=result.raw_message_id, activity_id=result.activity_id, summary=result.summary
    )


@router.post(
    "/activities/{activity_id}/untrack",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Untrack an email",
)
def untrack(activity_id: PathId, body: UntrackIn, tidings: TidingsDep, caller: Tracker) -> None:
    """The activity goes; the raw email stays, with who untracked it and why."""
    tidings.manual_tracking.untrack(caller, activity_id, body.reason)


@router.put("/activities/{activity_id}/regarding", summary="Set or clear the regarding record")
def set_regarding(
    activity_id: PathId, body: RegardingIn, tidings: TidingsDep, caller: Tracker
) -> RegardingPublic:
    regarding = RecordRef.parse(body.regarding) if body.regarding else None
    activity = tidings.manual_tracking.set_regarding(caller, activity_id, regarding)
    return RegardingPublic(
        activity_id=activity_id,
        regarding=str(activity.regarding) if activity.regarding else None,
    )
