"""The App for Outlook: its manifest, the task pane Outlook shows beside an email, and the
sign-in dialog's last page.

The task pane is a console page in a narrow frame. Its script (static/addin.js) reads the open
item through Office.js and asks for ``/addin/panel`` with the item's Internet Message-ID (or,
when writing, a token it sets as the draft's ``X-Tidings-Track`` header); every button in the
panel posts back here with htmx and gets the panel again. Sign-in happens in an Office dialog
on Tidings' own sign-in page, which ends at ``/addin/signed-in``; the pane then has the
session cookie.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError as PydanticValidationError

from tidings import __version__
from tidings.domain.access import SESSION_LIFETIME
from tidings.domain.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    TidingsError,
    ValidationError,
)
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK, Privilege
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.track_when_sent import is_token
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.api.mailbox_schemas import UntrackIn
from tidings.entrypoints.web.params import FormId, OptionalFormId
from tidings.entrypoints.web.render import templates
from tidings.entrypoints.web.session import COOKIE, FormVisitor, Visitor, VisitorDep

router = APIRouter(include_in_schema=False)

#: Microsoft requires add-ins to load Office.js from its CDN, never a copy.
OFFICE_JS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
#: Where Outlook on the web frames the task pane (desktop Outlook shows it in a web view).
OUTLOOK_FRAMERS = (
    "https://outlook.office.com https://outlook.office365.com https://*.outlook.com "
    "https://outlook.live.com https://*.office.com https://*.office365.com"
)
#: The task pane's policy: the console's, plus Office.js and being framed by Outlook.
ADDIN_POLICY = (
    "default-src 'self'; script-src 'self' https://appsforoffice.microsoft.com; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self' https://appsforoffice.microsoft.com; "
    "frame-src 'self' https://appsforoffice.microsoft.com; form-action 'self'; "
    f"frame-ancestors 'self' {OUTLOOK_FRAMERS}; base-uri 'none'; object-src 'none'"
)
_REGARDING_KINDS = ("account", "contact", "lead", "opportunity", "case")


def public_base(request: Request, configured: str | None) -> str:
    """The address Outlook reaches Tidings at: the configured one, or this request's."""
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")


@router.get("/addin/manifest.xml")
def manifest(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> Response:
    """The add-in manifest with this organization's address, for admins to deploy."""
    visitor.require(Privilege.READ_SETTINGS)
    base = public_base(request, tidings.settings.public_url)
    body = templates.get_template("addin/manifest.xml").render(
        base=base,
        # One id per Tidings address, so that a manifest downloaded again updates the app.
        app_id=uuid.uuid5(uuid.NAMESPACE_URL, base + "/addin"),
        app_version=".".join((*__version__.split(".")[:3], "0")),
    )
    return Response(
        body,
        media_type="application/xml",
        headers={"Content-Disposition": 'attachment; filename="tidings-outlook-manifest.xml"'},
    )


@router.get("/addin/taskpane")
def taskpane(request: Request) -> HTMLResponse:
    """The page Outlook opens; it needs no session: its panel asks for one."""
    response = templates.TemplateResponse(request, "addin/taskpane.html", {"office_js": OFFICE_JS})
    return _frameable(response)


@router.get("/addin/signed-in")
def signed_in(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    """The sign-in dialog's last page: it tells the task pane, which then reloads its panel.

    Outlook on the web frames the task pane on another site, where a browser sends only a
    ``SameSite=None; Secure`` cookie: over HTTPS the session cookie is issued again so.
    """
    response = templates.TemplateResponse(
        request, "addin/signed_in.html", {"office_js": OFFICE_JS, "visitor": visitor}
    )
    token = request.cookies.get(COOKIE)
    if token and request.url.scheme == "https":
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(SESSION_LIFETIME.total_seconds()),
            httponly=True,
            samesite="none",
            secure=True,
            path="/",
        )
    return _frameable(response)


@router.get("/addin/panel")
def panel(
    request: Request,
    tidings: TidingsDep,
    message_id: str = "",
    item_id: str = "",
    mode: str = "read",
    token: str = "",
    find: str | None = None,
) -> HTMLResponse:
    """What the task pane shows for the open item."""
    visitor = _visitor(request, tidings)
    context = {"message_id": message_id, "item_id": item_id, "mode": mode, "token": token}
    return _panel(request, tidings, visitor, context, find=find)


@router.post("/addin/track")
def track(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    raw_message_id: FormId,
    message_id: Annotated[str, Form()] = "",
    item_id: Annotated[str, Form()] = "",
) -> HTMLResponse:
    context = {"message_id": message_id, "item_id": item_id, "mode": "read"}
    try:
        tidings.manual_tracking.track(visitor.caller, raw_message_id)
    except TidingsError as error:
        return _panel(request, tidings, visitor, context, error=error)
    return _panel(request, tidings, visitor, context, notice="The email is tracked.")


@router.post("/addin/untrack")
def untrack(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    activity_id: FormId,
    reason: Annotated[str, Form()] = "",
    message_id: Annotated[str, Form()] = "",
    item_id: Annotated[str, Form()] = "",
) -> HTMLResponse:
    context = {"message_id": message_id, "item_id": item_id, "mode": "read"}
    problem = _reason_problem(reason)
    if problem is not None:  # beside the reason, which is kept
        return _panel(request, tidings, visitor, context, error=problem, reason=reason)
    try:
        tidings.manual_tracking.untrack(visitor.caller, activity_id, reason)
    except TidingsError as error:
        return _panel(request, tidings, visitor, context, error=error)
    return _panel(request, tidings, visitor, context, notice="The email is no longer tracked.")


def _reason_problem(reason: str) -> ValidationError | None:
    """What is wrong with an untrack reason, checked as the API's ``UntrackIn``."""
    if not reason.strip():
        return ValidationError("say why the email is untracked: the reason is kept with it")
    try:
        UntrackIn.model_validate({"reason": reason})
    except PydanticValidationError as error:
        message = str(error.errors()[0]["msg"])
        return ValidationError(message[:1].lower() + message[1:])
    return None


@router.post("/addin/regarding")
def set_regarding(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    activity_id: FormId,
    kind: Annotated[RecordKind | None, Form()] = None,
    record_id: OptionalFormId = None,
    message_id: Annotated[str, Form()] = "",
    item_id: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Set the regarding record, or clear it when no record is given."""
    context = {"message_id": message_id, "item_id": item_id, "mode": "read"}
    regarding = RecordRef(kind, record_id) if kind is not None and record_id is not None else None
    try:
        tidings.manual_tracking.set_regarding(visitor.caller, activity_id, regarding)
    except TidingsError as error:
        return _panel(request, tidings, visitor, context, error=error)
    return _panel(request, tidings, visitor, context, notice="Regarding saved.")


@router.post("/addin/track-when-sent")
def track_when_sent(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    token: Annotated[str, Form()],
    kind: Annotated[RecordKind | None, Form()] = None,
    record_id: OptionalFormId = None,
    cancel: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Ask (or stop asking) to track the email being written once it is sent."""
    context = {"mode": "compose", "token": token}
    regarding = RecordRef(kind, record_id) if kind is not None and record_id is not None else None
    try:
        if cancel:
            tidings.track_when_sent.cancel(visitor.caller, token)
            notice = "This email will not be tracked when sent."
        else:
            tidings.track_when_sent.request(visitor.caller, token, regarding)
            notice = "This email will be tracked when it is sent."
    except TidingsError as error:
        return _panel(request, tidings, visitor, context, error=error)
    return _panel(request, tidings, visitor, context, notice=notice)


def _visitor(request: Request, tidings: TidingsDep) -> Visitor | None:
    token = request.cookies.get(COOKIE)
    found = tidings.access.session_caller(token) if token else None
    return Visitor(*found) if found is not None else None


def _panel(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor | None,
    context: dict[str, str],
    *,
    find: str | None = None,
    notice: str | None = None,
    error: TidingsError | None = None,
    reason: str | None = None,
) -> HTMLResponse:
    """The panel; with ``reason``, the untrack form refused for it, the reason kept."""
    values: dict[str, object] = {
        **context,
        "reason": reason,
        "visitor": visitor,
        "notice": notice,
        "error": str(error) if error else None,
        "find": find,
        "candidates": [],
        "open": None,
        "intent": None,
        "not_authorized": NOT_AUTHORIZED_TO_TRACK,
        "regarding_kinds": [k for k in RecordKind if k.value in _REGARDING_KINDS],
    }
    status = 200 if error is None else _status_of(error)
    if visitor is not None and not visitor.can(Privilege.TRACK_EMAIL):
        return templates.TemplateResponse(request, "addin/_panel.html", values, status_code=403)
    if visitor is None:
        return templates.TemplateResponse(request, "addin/_panel.html", values, status_code=status)
    if find is not None and visitor.can(Privilege.READ_RECORDS):
        values["candidates"] = tidings.records.find_regarding(visitor.caller, find[:200])
    if context.get("mode") == "compose":
        token = context.get("token", "")
        if is_token(token):
            values["intent"] = tidings.track_when_sent.pending(visitor.caller, token)
    elif context.get("message_id") or context.get("item_id"):
        values["open"] = tidings.addin.open_email(
            visitor.caller, context.get("message_id", ""), context.get("item_id", "")
        )
    return templates.TemplateResponse(request, "addin/_panel.html", values, status_code=status)


def _status_of(error: TidingsError) -> int:
    """The panel comes back with the error; its status says what kind it was."""
    for kind, status in (
        (NotAuthorizedError, 403), (NotFoundError, 404), (ConflictError, 409),
        (ValidationError, 422),
    ):  # fmt: skip
        if isinstance(error, kind):
            return status
    return 400


def _frameable(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = ADDIN_POLICY
    return response
