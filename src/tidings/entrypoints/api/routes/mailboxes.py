"""Mailboxes and parked email, read-only."""

from fastapi import APIRouter

from tidings.domain.people import Privilege
from tidings.domain.sync import MailboxSync
from tidings.entrypoints.api.deps import CallerDep, TidingsDep, require
from tidings.entrypoints.api.schemas import MailboxPublic, ParkedPublic

router = APIRouter(prefix="/api", tags=["mailboxes"])


@router.get(
    "/mailboxes",
    response_model=list[MailboxPublic],
    dependencies=[require(Privilege.READ_MAILBOXES)],
)
def list_mailboxes(tidings: TidingsDep, caller: CallerDep) -> list[MailboxPublic]:
    """Every mailbox with its approval, Test & Enable results, alerts and sync: IDLE or
    polling, last sync, backlog, first-sync progress, and each folder's cursor: those the
    caller's access level reaches."""
    state = tidings.queries.sync_state(caller)
    return [
        MailboxPublic.of(m, state.get(m.id or 0, MailboxSync()))
        for m in tidings.queries.mailboxes(caller)
    ]


@router.get(
    "/parked", response_model=list[ParkedPublic], dependencies=[require(Privilege.READ_MAILBOXES)]
)
def list_parked(tidings: TidingsDep, caller: CallerDep) -> list[ParkedPublic]:
    """Email whose processing failed, waiting for replay."""
    return [
        ParkedPublic(
            id=p.id,
            mailbox=p.mailbox_address,
            folder=p.folder,
            message_id=p.message_id,
            stage=p.stage,
            error_type=p.error_type,
            attempts=p.attempts,
            parked_at=p.parked_at,
        )
        for p in tidings.queries.parked(caller)
    ]
