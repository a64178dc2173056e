"""Writing email in the console: a new email, reply / reply all / forward from an activity,
recipients looked up among contacts, leads, accounts and users, attachments, save and send
(Retry is a form of the activity page, views/activities.py). Plain HTML forms: everything
works without JavaScript."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError as PydanticValidationError

from tidings.domain.activity import Direction, EmailActivity, ParticipationRole
from tidings.domain.compose import ReplyMode, as_html_body, editable_body
from tidings.domain.errors import ConflictError, UserError, ValidationError
from tidings.domain.outgoing import INTERRUPTED_AFTER_HANDOVER
from tidings.domain.people import Privilege
from tidings.domain.records import RecordKind, RecordRef, is_email_address, normalize_address
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.api.email_schemas import EmailCreate, EmailUpdate
from tidings.entrypoints.web.confirm import ask_first
from tidings.entrypoints.web.forms import Field, FieldErrors, form_status
from tidings.entrypoints.web.params import MAX_ID, FormId, PathId
from tidings.entrypoints.web.render import page, templates
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep
from tidings.services.compose import ALL_FIELDS, DraftFields, EmailView

router = APIRouter(include_in_schema=False)

_REGARDING_KINDS = ("account", "contact", "lead", "opportunity", "case")
_SPLIT = re.compile(r"[,;\n]+")
#: Uploads read at most this much; the organization's own limit is checked by the service.
_MAX_UPLOAD = 131072 * 1024 + 1
#: Retry's box for an email that may have reached the server: a yes or a no like every
#: console box, never FastAPI's wider idea of a boolean ("t", "y" …).
RETRY_FIELD = Field(
    "confirm_not_delivered", "I checked: the email did not arrive", "bool", required=True,
    form_key="retry",
)  # fmt: skip


@dataclass
class ComposeForm:
    """What the compose page shows: the draft's values, or what was just typed."""

    mailbox_id: int | None = None
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    regarding_kind: str = ""
    regarding_id: str = ""
    errors: list[str] = field(default_factory=list)
    #: Each field's problem, by the form's name for the field.
    field_errors: dict[str, str] = field(default_factory=dict)


def _recipients(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in _SPLIT.split(text) if part.strip())


def _regarding(kind: str, record_id: str) -> RecordRef | None:
    if not kind or not record_id.strip():
        return None
    try:
        return RecordRef.parse(f"{kind}:{record_id.strip()}")
    except ValueError as error:
        raise ValidationError(f"regarding: {error}") from error


#: The API's name for each field of the form, for its verdict to land beside the field.
_API_NAMES = {"html_body": "body", "regarding": "regarding_id", "mailbox_id": "mailbox_id"}
_RECORD = re.compile(r"[a-z_]+:[0-9]{1,10}")
LABELS = {
    "mailbox_id": "From", "to": "To", "cc": "Cc", "bcc": "Bcc", "subject": "Subject",
    "body": "Message", "regarding_kind": "Regarding", "regarding_id": "Record number",
}  # fmt: skip


def _check(form: ComposeForm, *, new: bool) -> None:
    """Every field checked as the email API checks it, each problem beside its field."""
    errors: dict[str, str] = {}
    for name in ("to", "cc", "bcc"):
        for part in _recipients(getattr(form, name)):
            if not _RECORD.fullmatch(part) and not is_email_address(normalize_address(part)):
                shown = part if len(part) <= 80 else part[:80] + "…"
                errors.setdefault(name, f"{shown!r} is not an email address or a record")
    if form.regarding_kind and form.regarding_kind not in _REGARDING_KINDS:
        errors["regarding_kind"] = "choose one of the listed options"
    if form.regarding_kind and not re.fullmatch(r"[0-9]{1,9}", form.regarding_id.strip()):
        errors["regarding_id"] = "enter the record's number"
    shape: dict[str, object] = {
        "to": list(_recipients(form.to)), "cc": list(_recipients(form.cc)),
        "bcc": list(_recipients(form.bcc)), "subject": form.subject,
        "html_body": as_html_body(form.body),
    }  # fmt: skip
    if form.regarding_kind and form.regarding_id.strip():
        shape["regarding"] = f"{form.regarding_kind}:{form.regarding_id.strip()}"
    if new:
        shape["mailbox_id"] = form.mailbox_id
    try:
        (EmailCreate if new else EmailUpdate).model_validate(shape)
    except PydanticValidationError as error:
        for item in error.errors():
            where = str(item["loc"][0]) if item["loc"] else ""
            message = str(item["msg"]).removeprefix("Value error, ")
            errors.setdefault(_API_NAMES.get(where, where), message[:1].lower() + message[1:])
    if errors:
        raise FieldErrors(errors, LABELS)


def _posted_id(text: str) -> int | None:
    value = text.strip()
    if value.isascii() and value.isdigit() and len(value) <= 10 and int(value) <= MAX_ID:
        return int(value) or None
    return None


def _refused(form: ComposeForm, error: UserError) -> ComposeForm:
    if isinstance(error, FieldErrors):
        form.field_errors = dict(error.errors)
    else:
        form.errors.append(str(error))
    return form


def _fields(form: ComposeForm) -> DraftFields:
    return DraftFields(
        to=_recipients(form.to),
        cc=_recipients(form.cc),
        bcc=_recipients(form.bcc),
        subject=form.subject,
        html_body=as_html_body(form.body),
        regarding=_regarding(form.regarding_kind, form.regarding_id),
    )


def _form_of(view: EmailView) -> ComposeForm:
    activity = view.activity

    def joined(role: ParticipationRole) -> str:
        addresses = dict.fromkeys(p.address for p in activity.parties if p.role is role)
        return ", ".join(addresses)

    return ComposeForm(
        mailbox_id=activity.mailbox_id,
        to=joined(ParticipationRole.TO),
        cc=joined(ParticipationRole.CC),
        bcc=joined(ParticipationRole.BCC),
        subject=activity.subject,
        body=editable_body(activity.html_body, activity.text_body),
        regarding_kind=activity.regarding.kind.value if activity.regarding else "",
        regarding_id=str(activity.regarding.id) if activity.regarding else "",
    )


def _show(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    form: ComposeForm,
    *,
    view: EmailView | None = None,
    find: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    candidates = tidings.compose.find_recipients(visitor.caller, find[:200]) if find else []
    return page(
        request,
        "email_compose.html",
        visitor,
        status_code=status_code,
        form=form,
        view=view,
        mailboxes=tidings.compose.sendable_mailboxes(visitor.caller),
        regarding_kinds=[k for k in RecordKind if k.value in _REGARDING_KINDS],
        find=find,
        candidates=candidates,
        labels=LABELS,
    )


async def _attach(
    tidings: TidingsDep, visitor: Visitor, email_id: int, files: list[UploadFile]
) -> None:
    for upload in files:
        if not upload.filename:
            continue  # the file box was left empty
        content = await upload.read(_MAX_UPLOAD)
        tidings.compose.add_attachment(
            visitor.caller,
            email_id,
            upload.filename,
            upload.content_type or "application/octet-stream",
            content,
        )


def _after_save(tidings: TidingsDep, visitor: Visitor, email_id: int, action: str) -> Response:
    if action == "send":
        tidings.compose.send(visitor.caller, email_id)
        return RedirectResponse(f"/activities/{email_id}?done=queued", status_code=303)
    if action.startswith("lookup:"):
        find = action.removeprefix("lookup:")
        return RedirectResponse(f"/emails/{email_id}/edit?find={quote(find)}", status_code=303)
    return RedirectResponse(f"/emails/{email_id}/edit?done=saved", status_code=303)


Files = Annotated[list[UploadFile], File()]


def email_actions(tidings: TidingsDep, visitor: Visitor, activity: EmailActivity) -> dict[str, Any]:
    """What an activity page offers for writing email: the sending status of an email
    written here (with Retry), and the mailbox a Reply would be written from."""
    if not visitor.can(Privilege.TRACK_EMAIL) or activity.id is None:
        return {"email_view": None, "reply_mailbox": None}
    mailboxes = tidings.compose.sendable_mailboxes(visitor.caller)
    own = [m for m in mailboxes if m.id == activity.mailbox_id]
    reply_from = (own or mailboxes)[0] if (own or mailboxes) else None
    view = None
    if own and activity.direction is Direction.OUTGOING:
        view = tidings.compose.get(visitor.caller, activity.id)
    return {
        "email_view": view,
        "reply_mailbox": reply_from,
        "interrupted": INTERRUPTED_AFTER_HANDOVER,
        "retry_field": RETRY_FIELD,
    }


@router.get("/emails/new")
def new_email(
    request: Request, tidings: TidingsDep, visitor: VisitorDep, mailbox: int | None = None
) -> HTMLResponse:
    visitor.require(Privilege.TRACK_EMAIL)
    return _show(request, tidings, visitor, ComposeForm(mailbox_id=mailbox))


@router.post("/emails")
async def create_email(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    mailbox_id: Annotated[str, Form()] = "",
    to: Annotated[str, Form()] = "",
    cc: Annotated[str, Form()] = "",
    bcc: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    regarding_kind: Annotated[str, Form()] = "",
    regarding_id: Annotated[str, Form()] = "",
    find: Annotated[str, Form(max_length=200)] = "",
    action: Annotated[str, Form()] = "save",
    files: Files = [],  # noqa: B006 - FastAPI reads the default, never mutates it
) -> Response:
    chosen = _posted_id(mailbox_id)
    form = ComposeForm(chosen, to, cc, bcc, subject, body, regarding_kind, regarding_id)
    try:
        _check(form, new=True)
        assert chosen is not None  # noqa: S101 - checked as EmailCreate's mailbox_id
        done = tidings.compose.create(visitor.caller, chosen, _fields(form), ALL_FIELDS)
    except (ValidationError, ConflictError) as error:
        status = form_status(error)
        return _show(request, tidings, visitor, _refused(form, error), status_code=status)
    return await _save_rest(request, tidings, visitor, done.activity_id, files, action, find)


@router.get("/emails/{email_id}/edit")
def edit_email(
    request: Request,
    tidings: TidingsDep,
    visitor: VisitorDep,
    email_id: PathId,
    find: str | None = None,
) -> HTMLResponse:
    view = tidings.compose.get(visitor.caller, email_id)
    return _show(request, tidings, visitor, _form_of(view), view=view, find=find)


@router.post("/emails/{email_id}")
async def update_email(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    email_id: PathId,
    to: Annotated[str, Form()] = "",
    cc: Annotated[str, Form()] = "",
    bcc: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    regarding_kind: Annotated[str, Form()] = "",
    regarding_id: Annotated[str, Form()] = "",
    find: Annotated[str, Form(max_length=200)] = "",
    action: Annotated[str, Form()] = "save",
    files: Files = [],  # noqa: B006 - FastAPI reads the default, never mutates it
) -> Response:
    form = ComposeForm(None, to, cc, bcc, subject, body, regarding_kind, regarding_id)
    try:
        _check(form, new=False)
        tidings.compose.update(visitor.caller, email_id, _fields(form), ALL_FIELDS)
    except ValidationError as error:
        view = tidings.compose.get(visitor.caller, email_id)
        form.mailbox_id = view.activity.mailbox_id
        status = form_status(error)
        return _show(
            request, tidings, visitor, _refused(form, error), view=view, status_code=status
        )
    return await _save_rest(request, tidings, visitor, email_id, files, action, find)


async def _save_rest(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    email_id: PathId,
    files: list[UploadFile],
    action: str,
    find: str,
) -> Response:
    """Attachments and the button pressed, once the draft is saved: an error shows the
    saved draft again with the reason, so nothing typed is lost."""
    if action == "lookup":
        action = f"lookup:{find}"
    try:
        await _attach(tidings, visitor, email_id, files)
        return _after_save(tidings, visitor, email_id, action)
    except (ValidationError, ConflictError) as error:
        view = tidings.compose.get(visitor.caller, email_id)
        form = _form_of(view)
        form.errors.append(str(error))
        return _show(request, tidings, visitor, form, view=view, status_code=422)


@router.get("/emails/{email_id}/status")
def email_status(
    request: Request, tidings: TidingsDep, visitor: VisitorDep, email_id: PathId
) -> HTMLResponse:
    """The sending status section alone, which the activity page polls while it moves."""
    view = tidings.compose.get(visitor.caller, email_id)
    return templates.TemplateResponse(
        request,
        "_email_status.html",
        {
            "visitor": visitor,
            "email_view": view,
            "interrupted": INTERRUPTED_AFTER_HANDOVER,
            "retry_field": RETRY_FIELD,
        },
    )


@router.post("/emails/{email_id}/recipients")
def add_recipient(
    tidings: TidingsDep,
    visitor: FormVisitor,
    email_id: PathId,
    role: Annotated[ParticipationRole, Form()],
    record: Annotated[str, Form(max_length=40)],
) -> RedirectResponse:
    """Add a record found by the lookup to To, Cc or Bcc."""
    if role not in (ParticipationRole.TO, ParticipationRole.CC, ParticipationRole.BCC):
        raise ValidationError("role: choose to, cc or bcc")
    view = tidings.compose.get(visitor.caller, email_id)
    current = tuple(
        str(p.party) if p.party else p.address for p in view.activity.parties if p.role is role
    )
    fields = DraftFields(**{role.value: (*dict.fromkeys(current), record)})  # type: ignore[arg-type]
    tidings.compose.update(visitor.caller, email_id, fields, frozenset({role.value}))
    return RedirectResponse(f"/emails/{email_id}/edit?done=saved", status_code=303)


@router.post("/emails/{email_id}/attachments/{attachment_id}/remove")
def remove_attachment(
    tidings: TidingsDep, visitor: FormVisitor, email_id: PathId, attachment_id: PathId
) -> RedirectResponse:
    tidings.compose.remove_attachment(visitor.caller, email_id, attachment_id)
    return RedirectResponse(f"/emails/{email_id}/edit?done=saved", status_code=303)


@router.post("/emails/{email_id}/delete", response_model=None)
async def discard_email(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, email_id: PathId
) -> Response:
    tidings.compose.get(visitor.caller, email_id)  # a missing draft is not found at once
    asked = await ask_first(
        request, visitor, question="Delete this draft email? It cannot be brought back.",
        verb="Delete", back=f"/emails/{email_id}/edit",
    )  # fmt: skip
    if asked is not None:
        return asked
    tidings.compose.delete(visitor.caller, email_id)
    return RedirectResponse("/activities?done=deleted", status_code=303)


@router.post("/activities/{activity_id}/reply")
def reply(
    tidings: TidingsDep,
    visitor: FormVisitor,
    activity_id: PathId,
    mode: Annotated[ReplyMode, Form()],
    mailbox_id: FormId,
) -> RedirectResponse:
    """Start a reply, reply-all or forward of a tracked activity as a draft."""
    done = tidings.compose.create(
        visitor.caller,
        mailbox_id,
        DraftFields(),
        frozenset({"html_body"}),
        original_id=activity_id,
        mode=mode,
    )
    return RedirectResponse(f"/emails/{done.activity_id}/edit", status_code=303)
