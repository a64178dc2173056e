"""Settings → Email configuration: D365's System Settings, Email tab."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings.domain.errors import ValidationError
from tidings.domain.settings import AmbiguousMatch, EmailProcessing, SyncMethod
from tidings.entrypoints.api.admin_schemas import EmailConfigurationUpdate
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.forms import (
    Field,
    changes_from,
    choices_of,
    errors_by_field,
    form_status,
)
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, VisitorDep

router = APIRouter(include_in_schema=False)

_METHOD = choices_of(SyncMethod, {"server_side_synchronization": "Server-Side Synchronization"})

SECTIONS: list[tuple[str, list[Field]]] = [
    (
        "Configure email processing and synchronization",
        [
            Field("processing", "Process Email Using", "choice", choices_of(EmailProcessing, {"server_side_synchronization": "Server-Side Synchronization"})),
            Field("default_incoming_method", "Incoming Email (default for new mailboxes)", "choice", _METHOD),
            Field("default_outgoing_method", "Outgoing Email (default for new mailboxes)", "choice", _METHOD),
            Field("process_only_approved_mailboxes", "Process emails only for approved users and queues", "bool"),
        ],
    ),
    (
        "Email correlation",
        [
            Field("use_tracking_token", "Use tracking token", "bool"),
            Field("tracking_token.prefix", "Tracking token prefix", hint="Such as CRM:"),
            Field("tracking_token.deployment_digits", "Deployment digits", "int", hint="0–2"),
            Field("tracking_token.user_digits", "User digits", "int", hint="1–6"),
            Field("tracking_token.counter_digits", "Counter digits", "int", hint="1–9"),
            Field("use_correlation", "Use correlation to track email conversations", "bool"),
            Field("use_smart_matching", "Use smart matching", "bool"),
            Field("smart_matching_min_recipients", "Smart matching: recipients in common", "int"),
            Field("ambiguous_match", "When an address matches several records", "choice", choices_of(AmbiguousMatch, {"link_all": "Link to all of them", "unresolved": "Leave unresolved"})),
            Field("track_between_users_as_two_activities", "Track emails sent between users as two activities", "bool"),
        ],
    ),
    (
        "Folder-level tracking",
        [Field("folder_level_tracking", "Use folder-level tracking (up to 25 folders per mailbox)", "bool")],
    ),
    (
        "Automated email",
        [Field("skip_automated_email", "Skip automatic replies, bounces, read receipts and bulk email", "bool")],
    ),
    (
        "Tracked category",
        [
            Field("use_tracked_category", "Write the tracked category onto tracked email, and track email a person marks with it", "bool"),
            Field("tracked_category", "Category name", hint="An Outlook category or Gmail label; on IMAP servers, the keyword shown below"),
        ],
    ),
    (
        "Attachments",
        [
            Field("max_attachment_kb", "Maximum file size (KB)", "int"),
            Field("blocked_extensions", "Blocked file extensions", "words", hint="Separated by spaces or commas, without dots"),
        ],
    ),
    (
        "Tracking address",
        [Field("tracking_address", "Tracking address (a queue mailbox users Bcc, Cc or forward email to)", "email", hint="Such as crm@example.com; empty for none")],
    ),
]  # fmt: skip
FIELDS = [f for _, fields in SECTIONS for f in fields]


@router.get("/settings/email")
def email_settings(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    config = tidings.email_settings.get(visitor.caller)
    return page(
        request, "settings.html", visitor, sections=SECTIONS, all_fields=FIELDS, config=config
    )


@router.post("/settings/email", response_model=None)
async def save_email_settings(
    request: Request, tidings: TidingsDep, visitor: FormVisitor
) -> Response:
    form = await request.form()
    try:
        changes = changes_from(form, FIELDS, EmailConfigurationUpdate)
        tidings.email_settings.update(visitor.caller, changes)
    except ValidationError as error:
        config = tidings.email_settings.get(visitor.caller)
        return page(
            request, "settings.html", visitor, status_code=form_status(error), sections=SECTIONS,
            all_fields=FIELDS, config=config, error=str(error), submitted=form,
            field_errors=errors_by_field(error, FIELDS),
        )  # fmt: skip
    return RedirectResponse("/settings/email?done=saved", status_code=303)
