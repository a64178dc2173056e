"""Email activities: the list with search, one activity with its trace, its body in a frame,
and "why was (or wasn't) this email tracked?" for any Message-ID."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import FormData

from tidings.domain.activity import ParticipationRole
from tidings.domain.attachments import download_refusal
from tidings.domain.errors import UserError
from tidings.domain.people import Privilege
from tidings.domain.records import RecordKind, RecordRef
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.api.mailbox_schemas import RegardingIn, UntrackIn
from tidings.entrypoints.web.downloads import download
from tidings.entrypoints.web.forms import (
    Field,
    FieldErrors,
    Posted,
    changes_from,
    form_status,
    refused,
)
from tidings.entrypoints.web.params import FormId, PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep
from tidings.entrypoints.web.views.emails import RETRY_FIELD, email_actions

router = APIRouter(include_in_schema=False)

_REGARDING_KINDS = ("account", "contact", "lead", "opportunity", "case")

#: The email body's own policy: no script, no plugin, no form; images only inline unless the
#: reader asked for remote ones; links open outside the sandbox, in a new tab.
_BODY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:{remote}; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)


@router.get("/activities/{activity_id}")
def activity_detail(
    request: Request,
    tidings: TidingsDep,
    visitor: VisitorDep,
    activity_id: PathId,
    images: bool = False,
    find: str | None = None,
) -> HTMLResponse:
    return _activity_page(request, tidings, visitor, activity_id, images=images, find=find)


REGARDING_FIELDS = [
    Field("kind", "Or by record number", "choice", tuple((k, k) for k in _REGARDING_KINDS), form_key="regarding"),
    Field("record_id", "Record number", "int", required=True, form_key="regarding"),
]  # fmt: skip
REASON_FIELD = Field("reason", "Why untrack?", required=True, form_key="untrack")


def _activity_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    activity_id: int,
    *,
    images: bool = False,
    find: str | None = None,
    status: int = 200,
    posted: Posted | None = None,
) -> HTMLResponse:
    visitor.require(Privilege.READ_ACTIVITIES)
    candidates = []
    if find is not None and visitor.can(Privilege.READ_RECORDS):
        candidates = tidings.records.find_regarding(visitor.caller, find[:200])
    detail = tidings.queries.activity(activity_id, caller=visitor.caller)
    activity = detail.activity
    blocked_extensions = (
        tidings.queries.blocked_extensions() if activity.attachments else frozenset()
    )
    blocked = 0
    if activity.html_body:
        blocked = tidings.sanitizer.clean(
            activity.html_body, remote_images=False
        ).blocked_remote_images
    return page(
        request,
        "activity.html",
        visitor,
        status_code=status,
        posted=posted,
        regarding_fields=REGARDING_FIELDS,
        reason_field=REASON_FIELD,
        **email_actions(tidings, visitor, activity),
        detail=detail,
        activity=activity,
        roles=list(ParticipationRole),
        images=images,
        blocked=blocked,
        regarding_kinds=[k for k in RecordKind if k.value in _REGARDING_KINDS],
        refusals=[download_refusal(a, blocked_extensions) for a in activity.attachments],
        find=find,
        candidates=candidates,
    )


@router.get("/activities/{activity_id}/attachments/{number}", response_model=None)
def attachment_download(
    tidings: TidingsDep, visitor: VisitorDep, activity_id: PathId, number: PathId
) -> Response:
    """One attachment, for whoever may read the activity; a blocked one never (403)."""
    visitor.require(Privilege.READ_ACTIVITIES)
    found = tidings.queries.attachment(activity_id, number, visitor.caller)
    assert found.content is not None  # noqa: S101 - attachment() serves only kept content
    return download(found.content, found.filename, found.content_type)


@router.get("/activities/{activity_id}/body")
def activity_body(
    request: Request,
    tidings: TidingsDep,
    visitor: VisitorDep,
    activity_id: PathId,
    images: bool = False,
) -> HTMLResponse:
    """The email's HTML, sanitized, for the sandboxed frame of the activity page."""
    visitor.require(Privilege.READ_ACTIVITIES)
    activity = tidings.queries.activity(activity_id, caller=visitor.caller).activity
    clean = tidings.sanitizer.clean(activity.html_body or "", remote_images=images)
    document = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer"></head>'
        f"<body>{clean.html}</body></html>"
    )
    response = HTMLResponse(document)
    response.headers["Content-Security-Policy"] = _BODY_POLICY.format(
        remote=" https: http:" if images else ""
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@router.get("/explain")
def explain(
    request: Request, tidings: TidingsDep, visitor: VisitorDep, message_id: str = ""
) -> HTMLResponse:
    """Every stored copy of an email and why each was tracked or not."""
    visitor.require(Privilege.READ_ACTIVITIES)
    scope = visitor.caller.scope(Privilege.READ_ACTIVITIES)
    explanations = tidings.explain.by_message_id(message_id, scope) if message_id.strip() else []
    return page(
        request,
        "explain.html",
        visitor,
        message_id=message_id,
        explanations=explanations,
        searched=bool(message_id.strip()),
    )


@router.post("/activities/{activity_id}/untrack", response_model=None)
async def untrack(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, activity_id: PathId
) -> Response:
    form = await request.form()
    try:
        values = changes_from(form, [REASON_FIELD], UntrackIn)
        tidings.manual_tracking.untrack(visitor.caller, activity_id, str(values["reason"]))
    except UserError as error:
        posted = refused("untrack", form, error, [REASON_FIELD])
        return _activity_page(
            request, tidings, visitor, activity_id, status=form_status(error), posted=posted
        )
    return RedirectResponse("/activities?done=untracked", status_code=303)


@router.post("/emails/{email_id}/retry", response_model=None)
async def retry_email(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, email_id: PathId
) -> Response:
    """Queue a failed email again; a box other than ticked or not is shown beside it."""
    tidings.compose.get(visitor.caller, email_id)  # refused or not found before the form
    form = await request.form()
    try:
        confirmed = changes_from(form, [RETRY_FIELD])[RETRY_FIELD.name] is True
    except FieldErrors as error:
        posted = refused("retry", form, error, [RETRY_FIELD])
        return _activity_page(request, tidings, visitor, email_id, status=422, posted=posted)
    tidings.compose.retry(visitor.caller, email_id, confirmed=confirmed)
    return RedirectResponse(f"/activities/{email_id}?done=queued", status_code=303)


def _regarding(form: FormData) -> RecordRef | None:
    """The record a form names (kind and number), or None when it names none: checked as
    the API checks a regarding record, each problem beside its field."""
    if not any(str(form.get(f.name) or "").strip() for f in REGARDING_FIELDS):
        return None
    errors: dict[str, str] = {}
    values: dict[str, object] = {}
    try:
        values = changes_from(form, REGARDING_FIELDS)
    except FieldErrors as error:
        errors.update(error.errors)
    number = values.get("record_id")
    if "record_id" not in errors and not (isinstance(number, int) and 1 <= number <= MAX_RECORD):
        errors["record_id"] = f"enter a record number from 1 to {MAX_RECORD}"
    if not errors:
        text = f"{values['kind']}:{number}"
        try:
            RegardingIn.model_validate({"regarding": text})
        except PydanticValidationError as error:
            errors["record_id"] = str(error.errors()[0]["msg"])
        else:
            return RecordRef.parse(text)
    raise FieldErrors(errors, {f.name: f.label for f in REGARDING_FIELDS})


#: The largest record number the API's KIND:ID takes (nine digits).
MAX_RECORD = 999_999_999


@router.post("/activities/{activity_id}/regarding", response_model=None)
async def set_regarding(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, activity_id: PathId
) -> Response:
    """Set the regarding record, or clear it when no record is given."""
    form = await request.form()
    try:
        regarding = _regarding(form)
        tidings.manual_tracking.set_regarding(visitor.caller, activity_id, regarding)
    except UserError as error:
        posted = refused("regarding", form, error, REGARDING_FIELDS)
        return _activity_page(
            request, tidings, visitor, activity_id, status=form_status(error), posted=posted
        )
    return RedirectResponse(f"/activities/{activity_id}?done=saved", status_code=303)


@router.post("/explain/track")
def track_by_hand(
    tidings: TidingsDep, visitor: FormVisitor, raw_message_id: FormId
) -> RedirectResponse:
    """Track a kept email the rules left out, as D365's app for Outlook does."""
    result = tidings.manual_tracking.track(visitor.caller, raw_message_id)
    return RedirectResponse(f"/activities/{result.activity_id}?done=tracked", status_code=303)
