"""Folder-level tracking of one mailbox: the folder picker (the server's real folders, or a
typed name when the server cannot be reached), at most 25 tracked folders, and each folder's
regarding record found by the same lookup as an activity's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field as PydanticField
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import FormData

from tidings.domain.errors import UserError, ValidationError
from tidings.domain.folders import MAX_FOLDER_RULES
from tidings.domain.people import Privilege
from tidings.domain.records import REGARDING_KINDS, RecordKind, RecordRef
from tidings.entrypoints.api.admin_schemas import Name, StrictModel
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.api.mailbox_schemas import FolderRuleIn
from tidings.entrypoints.web.forms import (
    Field,
    FieldErrors,
    Posted,
    changes_from,
    form_status,
    refused,
)
from tidings.entrypoints.web.params import OptionalFormId, PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep
from tidings.services.personal_options import FolderRuleInput

router = APIRouter(include_in_schema=False)

#: A folder name as the picker posts it; longer ones are no folder of any server.
FolderName = Annotated[str, Form(max_length=200)]


@router.get("/mailboxes/{mailbox_id}/folders")
async def folder_picker(
    request: Request,
    tidings: TidingsDep,
    visitor: VisitorDep,
    mailbox_id: PathId,
    find: Annotated[str | None, Query(max_length=200)] = None,
    folder: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    return await _page(request, tidings, visitor, mailbox_id, find=find, find_for=folder)


async def _page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    mailbox_id: int,
    *,
    status: int = 200,
    error: str | None = None,
    find: str | None = None,
    find_for: str | None = None,
    posted: Posted | None = None,
) -> HTMLResponse:
    tracking = tidings.personal_options.folder_tracking(visitor.caller, mailbox_id)
    rules = tracking.rules
    server = await tidings.folder_picker.server_folders(visitor.caller, mailbox_id)
    tracked = {r.folder for r in rules}
    candidates = []
    if find and find_for in tracked and visitor.can(Privilege.READ_RECORDS):
        candidates = tidings.records.find_regarding(visitor.caller, find)
    return page(
        request,
        "folders.html",
        visitor,
        status_code=status,
        mailbox_id=mailbox_id,
        address=tracking.address,
        rules=rules,
        names=tracking.regarding_names,
        folders=sorted(set(server.names) | tracked),
        tracked=tracked,
        problem=server.problem,
        inbox_only=server.inbox_only,
        limit=MAX_FOLDER_RULES,
        folder_level_tracking=tracking.enabled,
        regarding_kinds=[k for k in RecordKind if k in REGARDING_KINDS],
        find=find,
        find_for=find_for if find_for in tracked else None,
        candidates=candidates,
        error=error,
        fields=FOLDER_FIELDS,
        posted=posted,
    )


FOLDER_FIELDS = [
    Field("folder", "Folders of the mailbox", "multi_choice"),
    Field("typed", "Another folder, by name", api_name="folder"),
]


class _TickedFolders(StrictModel):
    folder: Annotated[list[Name], PydanticField(max_length=10 * MAX_FOLDER_RULES)]


def _chosen(form: FormData) -> list[str]:
    """The ticked folders and the typed one, each checked as the API checks a folder's name;
    every problem at once, each beside its field."""
    errors: dict[str, str] = {}
    ticked = [v for v in form.getlist("folder") if isinstance(v, str)]
    try:
        _TickedFolders.model_validate({"folder": ticked})
    except PydanticValidationError as error:
        message = str(error.errors()[0]["msg"])
        errors["folder"] = message[:1].lower() + message[1:]
    typed = form.get("typed")
    name = typed.strip() if isinstance(typed, str) else ""
    if name:
        try:
            changes_from(form, FOLDER_FIELDS[1:], FolderRuleIn)
        except FieldErrors as error:
            errors.update(error.errors)
    if errors:
        raise FieldErrors(errors, {f.name: f.label for f in FOLDER_FIELDS})
    return [*ticked, *([name] if name else [])]


@router.post("/mailboxes/{mailbox_id}/folders", response_model=None)
async def save_folders(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, mailbox_id: PathId
) -> Response:
    """Track exactly the ticked folders (and a typed one), each keeping its regarding."""
    form = await request.form()
    regarding = {
        r.folder: r.regarding
        for r in tidings.personal_options.folder_rules(visitor.caller, mailbox_id)
    }
    try:
        chosen = _chosen(form)
        rules = [FolderRuleInput(name, regarding.get(name)) for name in dict.fromkeys(chosen)]
        try:
            tidings.personal_options.replace_folder_rules(visitor.caller, mailbox_id, rules)
        except ValidationError as error:  # too many: the ticked list's problem
            raise FieldErrors({"folder": str(error)}, {"folder": FOLDER_FIELDS[0].label}) from error
    except UserError as error:
        posted = refused("folders", form, error, FOLDER_FIELDS)
        return await _page(
            request, tidings, visitor, mailbox_id, status=form_status(error), posted=posted
        )
    return RedirectResponse(f"/mailboxes/{mailbox_id}/folders?done=saved", status_code=303)


@router.post("/mailboxes/{mailbox_id}/folders/regarding", response_model=None)
async def set_folder_regarding(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    mailbox_id: PathId,
    folder: FolderName,
    kind: Annotated[RecordKind | None, Form()] = None,
    record_id: OptionalFormId = None,
) -> Response:
    """Set the regarding record of a tracked folder, or clear it when none is given."""
    tracked = {r.folder for r in tidings.personal_options.folder_rules(visitor.caller, mailbox_id)}
    regarding = RecordRef(kind, record_id) if kind is not None and record_id is not None else None
    try:
        if folder not in tracked:
            raise UserError(f"the folder {folder!r} is not tracked")
        tidings.personal_options.add_folder_rule(
            visitor.caller, mailbox_id, FolderRuleInput(folder, regarding)
        )
    except UserError as error:
        return await _page(
            request, tidings, visitor, mailbox_id, status=form_status(error), error=str(error)
        )
    return RedirectResponse(f"/mailboxes/{mailbox_id}/folders?done=saved", status_code=303)
