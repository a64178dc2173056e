"""Personal options: *Track incoming email*, contacts for unknown senders, and the folders of
one's mailbox tracked by folder-level tracking (at most 25)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings.domain.errors import UserError
from tidings.domain.people import Privilege, TrackIncoming
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.params import FormId, PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep
from tidings.services.personal_options import FolderRuleInput

router = APIRouter(include_in_schema=False)


def _user_id(visitor: Visitor, user_id: int | None) -> int:
    own = visitor.caller.user.id
    assert own is not None  # noqa: S101
    return own if user_id is None else user_id


def _page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    user_id: int,
    *,
    status: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    options = tidings.personal_options.get_options(visitor.caller, user_id)
    mailbox = next(
        (
            m
            for m in (
                tidings.queries.mailboxes(visitor.caller)
                if visitor.can(Privilege.READ_MAILBOXES)
                else []
            )
            if m.owner.kind.value == "user" and m.owner.id == user_id
        ),
        None,
    )
    rules = (
        tidings.personal_options.folder_rules(visitor.caller, mailbox.id)
        if mailbox is not None and mailbox.id is not None
        else []
    )
    return page(
        request,
        "options.html",
        visitor,
        status_code=status,
        user_id=user_id,
        own=user_id == visitor.caller.user.id,
        options=options,
        choices=list(TrackIncoming),
        mailbox=mailbox,
        rules=rules,
        error=error,
    )


@router.get("/options")
def own_options(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    return _page(request, tidings, visitor, _user_id(visitor, None))


@router.get("/options/{user_id}")
def user_options(
    request: Request, tidings: TidingsDep, visitor: VisitorDep, user_id: PathId
) -> HTMLResponse:
    return _page(request, tidings, visitor, user_id)


@router.post("/options/{user_id}", response_model=None)
def save_options(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    user_id: PathId,
    track_incoming: Annotated[TrackIncoming, Form()],
    create_contacts: Annotated[bool, Form()] = False,
) -> Response:
    tidings.personal_options.update_options(
        visitor.caller,
        user_id,
        track_incoming=track_incoming,
        create_contacts_for_unknown_senders=create_contacts,
    )
    return RedirectResponse(f"/options/{user_id}?done=saved", status_code=303)


@router.post("/options/{user_id}/folders", response_model=None)
def add_folder(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    user_id: PathId,
    mailbox_id: FormId,
    folder: Annotated[str, Form()],
) -> Response:
    try:
        tidings.personal_options.add_folder_rule(
            visitor.caller, mailbox_id, FolderRuleInput(folder.strip())
        )
    except UserError as error:
        return _page(request, tidings, visitor, user_id, status=400, error=str(error))
    return RedirectResponse(f"/options/{user_id}?done=saved", status_code=303)


@router.post("/options/{user_id}/folders/remove")
def remove_folder(
    tidings: TidingsDep,
    visitor: FormVisitor,
    user_id: PathId,
    mailbox_id: FormId,
    folder: Annotated[str, Form()],
) -> RedirectResponse:
    tidings.personal_options.remove_folder_rule(visitor.caller, mailbox_id, folder)
    return RedirectResponse(f"/options/{user_id}?done=saved", status_code=303)
