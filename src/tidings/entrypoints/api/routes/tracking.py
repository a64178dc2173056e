"""Tracking by hand, as D365's app for Outlook does: track, untrack, set regarding."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, status

from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordRef
from tidings.entrypoints.api.admin_schemas import (
    PathId,
    RegardingIn,
    RegardingPublic,
    TrackIn,
    TrackPublic,
    UntrackIn,
)
from tidings.entrypoints.api.deps import TidingsDep, require

router = APIRouter(prefix="/api/activities", tags=["activities"])

#: Without the tracking role: "You haven't been authorized to use this app".
Tracker = Annotated[Caller, require(Privilege.TRACK_EMAIL)]


@router.post("/track", status_code=status.HTTP_201_CREATED, summary="Track an email by hand")
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
    "/{activity_id}/untrack",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Untrack an email",
)
def untrack(activity_id: PathId, body: UntrackIn, tidings: TidingsDep, caller: Tracker) -> None:
    """The activity goes; the raw email stays, with who untracked it and why."""
    tidings.manual_tracking.untrack(caller, activity_id, body.reason)


@router.put("/{activity_id}/regarding", summary="Set or clear the regarding record")
def set_regarding(
    activity_id: PathId, body: RegardingIn, tidings: TidingsDep, caller: Tracker
) -> RegardingPublic:
    regarding = RecordRef.parse(body.regarding) if body.regarding else None
    activity = tidings.manual_tracking.set_regarding(caller, activity_id, regarding)
    return RegardingPublic(
        activity_id=activity_id,
        regarding=str(activity.regarding) if activity.regarding else None,
    )
