"""Replaying parked email: one, or all of it."""

from typing import Annotated

from fastapi import APIRouter

from tidings.domain.people import Caller, Privilege
from tidings.entrypoints.api.admin_schemas import PROBLEMS, PathId
from tidings.entrypoints.api.deps import TidingsDep, require
from tidings.entrypoints.api.mailbox_schemas import ReplayPublic

router = APIRouter(prefix="/api/parked", tags=["mailboxes"], responses=PROBLEMS)

Replayer = Annotated[Caller, require(Privilege.WRITE_MAILBOXES)]


@router.post("/replay", summary="Replay every parked email")
def replay_all(tidings: TidingsDep, caller: Replayer) -> list[ReplayPublic]:
    """Each email is processed again; those that pass leave the parked list."""
    return [ReplayPublic.of(r) for r in tidings.parked.replay_all(caller)]


@router.post("/{parked_id}/replay", summary="Replay one parked email")
def replay_one(parked_id: PathId, tidings: TidingsDep, caller: Replayer) -> ReplayPublic:
    return ReplayPublic.of(tidings.parked.replay(caller, parked_id))
