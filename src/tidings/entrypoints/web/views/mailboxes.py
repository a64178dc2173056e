"""Mailboxes: D365's views, several selected at once for Approve Email or Test & Enable,
and one mailbox with its results, alerts and sync state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tidings.domain.errors import NotFoundError, ValidationError
from tidings.domain.mailbox_views import MailboxView, in_view
from tidings.domain.people import Privilege
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, VisitorDep

router = APIRouter(include_in_schema=False)


@router.get("/mailboxes")
def mailbox_list(
    request: Request,
    tidings: TidingsDep,
    visitor: VisitorDep,
    view: MailboxView = MailboxView.ACTIVE,
) -> HTMLResponse:
    visitor.require(Privilege.READ_MAILBOXES)
    mailboxes = [m for m in tidings.queries.mailboxes() if in_view(m, view)]
    state = tidings.queries.sync_state()
    return page(
        request,
        "mailboxes.html",
        visitor,
        view=view,
        views=list(MailboxView),
        mailboxes=mailboxes,
        state=state,
    )


def _selected(ids: list[int] | None) -> list[int]:
    if not ids:
        raise ValidationError("select at least one mailbox first")
    return ids


@router.post("/mailboxes/approve")
def approve(
    tidings: TidingsDep,
    visitor: FormVisitor,
    mailbox_id: Annotated[list[int] | None, Form()] = None,
    view: Annotated[MailboxView, Form()] = MailboxView.ALL,
) -> RedirectResponse:
    tidings.mailboxes.approve_email(visitor.caller, _selected(mailbox_id))
    return RedirectResponse(f"/mailboxes?view={view.value}&done=approved", status_code=303)


@router.post("/mailboxes/test-enable")
async def test_and_enable(
    tidings: TidingsDep,
    visitor: FormVisitor,
    mailbox_id: Annotated[list[int] | None, Form()] = None,
    view: Annotated[MailboxView, Form()] = MailboxView.ALL,
) -> RedirectResponse:
    await tidings.mailboxes.test_and_enable(visitor.caller, _selected(mailbox_id))
    return RedirectResponse(f"/mailboxes?view={view.value}&done=tested", status_code=303)


@router.get("/mailboxes/{mailbox_id}")
def mailbox_detail(
    request: Request, tidings: TidingsDep, visitor: VisitorDep, mailbox_id: int
) -> HTMLResponse:
    visitor.require(Privilege.READ_MAILBOXES)
    mailbox = next((m for m in tidings.queries.mailboxes() if m.id == mailbox_id), None)
    if mailbox is None:
        raise NotFoundError(f"no mailbox with id {mailbox_id}")
    cursors = tidings.queries.sync_state().get(mailbox_id, [])
    return page(
        request,
        "mailbox.html",
        visitor,
        mailbox=mailbox,
        cursors=cursors,
        alerts=sorted(mailbox.alerts, key=lambda a: a.raised_at, reverse=True),
    )
