"""Personal options: *Track incoming email*, contacts for unknown senders, and the folders of
one's mailbox tracked by folder-level tracking (at most 25)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings.domain.errors import UserError, ValidationError
from tidings.domain.people import Privilege, TrackIncoming
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.api.mailbox_schemas import FolderRuleIn
from tidings.entrypoints.api.people_schemas import OptionsUpdate
from tidings.entrypoints.web.forms import Field, Posted, changes_from, form_status, refused
from tidings.entrypoints.web.params import MAX_ID, FormId, PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep
from tidings.services.personal_options import FolderRuleInput

router = APIRouter(include_in_schema=False)


def _user_id(visitor: Visitor, user_id: int | None) -> int:
    own = visitor.caller.user.id
    assert own is not None  # noqa: S101
    return own if user_id is None else user_id


OPTION_FIELDS = [
    Field("track_incoming", "Track incoming email", "choice", tuple((c.value, c.label) for c in TrackIncoming)),
    Field("create_contacts", "Automatically create records for unknown senders (as contacts)", "bool", api_name="create_contacts_for_unknown_senders"),
]  # fmt: skip
FOLDER_FIELD = Field("folder", "Folder to track", required=True)


def _page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    user_id: int,
    *,
    status: int = 200,
    posted: Posted | None = None,
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
        fields=OPTION_FIELDS,
        folder_field=FOLDER_FIELD,
        mailbox=mailbox,
        rules=rules,
        posted=posted,
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
async def save_options(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, user_id: PathId
) -> Response:
    form = await request.form()
    try:
        values = changes_from(form, OPTION_FIELDS, OptionsUpdate)
        tidings.personal_options.update_options(
            visitor.caller, user_id, track_incoming=TrackIncoming(str(values["track_incoming"])),
            create_contacts_for_unknown_senders=bool(values["create_contacts_for_unknown_senders"]),
        )  # fmt: skip
    except UserError as error:
        posted = refused("options", form, error, OPTION_FIELDS)
        return _page(request, tidings, visitor, user_id, status=form_status(error), posted=posted)
    return RedirectResponse(f"/options/{user_id}?done=saved", status_code=303)


@router.post("/options/{user_id}/folders", response_model=None)
async def add_folder(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, user_id: PathId
) -> Response:
    form = await request.form()
    try:
        mailbox_id = _posted_id(form.get("mailbox_id"))
        values = changes_from(form, [FOLDER_FIELD], FolderRuleIn)
        tidings.personal_options.add_folder_rule(
            visitor.caller, mailbox_id, FolderRuleInput(str(values["folder"]))
        )
    except UserError as error:
        posted = refused("folder", form, error, [FOLDER_FIELD])
        return _page(request, tidings, visitor, user_id, status=form_status(error), posted=posted)
    return RedirectResponse(f"/options/{user_id}?done=saved", status_code=303)


def _posted_id(raw: object) -> int:
    """The mailbox the page's hidden field names."""
    text = raw.strip() if isinstance(raw, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 10 and 1 <= int(text) <= MAX_ID:
        return int(text)
    raise ValidationError("the form names no mailbox; reload the page and try again")


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
