"""Email activities: the list with search, one activity with its trace, its body in a frame,
and "why was (or wasn't) this email tracked?" for any Message-ID."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings.domain.activity import ParticipationRole
from tidings.domain.attachments import download_refusal
from tidings.domain.people import Privilege
from tidings.domain.records import RecordKind, RecordRef
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.downloads import download
from tidings.entrypoints.web.params import FormId, OptionalFormId, PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, VisitorDep
from tidings.entrypoints.web.views.emails import email_actions

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


@router.post("/activities/{activity_id}/untrack")
def untrack(
    tidings: TidingsDep,
    visitor: FormVisitor,
    activity_id: PathId,
    reason: Annotated[str, Form()],
) -> RedirectResponse:
    tidings.manual_tracking.untrack(visitor.caller, activity_id, reason)
    return RedirectResponse("/activities?done=untracked", status_code=303)


@router.post("/activities/{activity_id}/regarding")
def set_regarding(
    tidings: TidingsDep,
    visitor: FormVisitor,
    activity_id: PathId,
    kind: Annotated[RecordKind | None, Form()] = None,
    record_id: OptionalFormId = None,
) -> RedirectResponse:
    """Set the regarding record, or clear it when no record is given."""
    regarding = RecordRef(kind, record_id) if kind is not None and record_id is not None else None
    tidings.manual_tracking.set_regarding(visitor.caller, activity_id, regarding)
    return RedirectResponse(f"/activities/{activity_id}?done=saved", status_code=303)


@router.post("/explain/track")
def track_by_hand(
    tidings: TidingsDep, visitor: FormVisitor, raw_message_id: FormId
) -> RedirectResponse:
    """Track a kept email the rules left out, as D365's app for Outlook does."""
    result = tidings.manual_tracking.track(visitor.caller, raw_message_id)
    return RedirectResponse(f"/activities/{result.activity_id}?done=tracked", status_code=303)
