"""Email server profiles: new (choose the kind, then that kind's fields); edit; delete. The
list is a grid (``admin_grids``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from tidings.domain.credentials import Direction
from tidings.domain.errors import UserError
from tidings.domain.people import Privilege
from tidings.domain.server_profile import (
    HOST_BASED_KINDS,
    OPTION_CHOICES,
    ConnectionSecurity,
    CredentialSource,
    ServerProfile,
    ServerProfileKind,
)
from tidings.entrypoints.api.admin_schemas import ConnectionTestIn, ServerProfileUpdate
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.confirm import ask_first
from tidings.entrypoints.web.forms import (
    Field,
    FieldErrors,
    Posted,
    changes_from,
    choices_of,
    form_status,
    refused,
)
from tidings.entrypoints.web.params import PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep
from tidings.services.mailbox_setup import MailboxRow
from tidings.services.profile_connection import ProfileTestReport, TestLogin
from tidings.services.server_profiles import KIND_OPTIONS, ProfileSecret

router = APIRouter(include_in_schema=False)

KIND_LABELS = {
    "imap_smtp": "IMAP/SMTP Server",
    "pop3_smtp": "POP3/SMTP Server",
    "exchange_online": "Exchange Online",
    "exchange_server": "Exchange Server (Hybrid)",
    "gmail": "Gmail",
}
_SECURITY = choices_of(
    ConnectionSecurity,
    {"tls": "SSL/TLS (implicit)", "starttls": "STARTTLS", "none": "None (insecure)"},
)
_CREDENTIALS = choices_of(
    CredentialSource,
    {"mailbox": "Credentials specified by a user or queue", "profile": "Credentials specified in email server profile", "oauth": "OAuth"},
)  # fmt: skip
OPTION_LABELS = {
    "ca_file": ("Trusted CA certificates (PEM file on the Tidings server)", "Leave empty to trust the system's certificate authorities."),
    "save_sent_copy": ("Save a copy of sent email", "Default: yes."),
    "sent_folder": ("Sent folder name, if the server marks none as \\Sent", ""),
    "tenant_id": ("Directory (tenant) ID", ""),
    "client_id": ("Application (client) ID", ""),
    "ews_url": ("Exchange Web Services URL", "Leave empty to use autodiscover."),
    "token_url": ("OAuth token endpoint", "Microsoft: https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token; Google: https://oauth2.googleapis.com/token."),
    "scope": ("OAuth scopes", "Empty: what the provider grants by default for IMAP and SMTP."),
    "authority_url": ("Microsoft Entra sign-in address", "National clouds only; empty: https://login.microsoftonline.com."),
    "graph_url": ("Microsoft Graph address", "National clouds only; empty: https://graph.microsoft.com."),
    "certificate_thumbprint": ("Certificate thumbprint", "Only when the credential holds the certificate's private key alone."),
    "notification_url": ("Public address for change notifications", "https://<Tidings as the internet reaches it>/api/push/exchange_online; empty: delta polling."),
    "gmail_url": ("Gmail API address", "Empty: https://gmail.googleapis.com."),
    "pubsub_topic": ("Pub/Sub topic for push", "projects/<project>/topics/<topic>; empty: each folder polls."),
    "push_audience": ("Push subscription's audience", "The audience set on the push subscription's authentication (Google's default: its endpoint, https://<Tidings as the internet reaches it>/api/push/gmail)."),
    "push_service_account": ("Push subscription's service account", "The service account email the push subscription authenticates as."),
    "push_certs_url": ("Google's token certificates", "Empty: https://www.googleapis.com/oauth2/v1/certs."),
    "auth": ("EWS authentication (ntlm, basic or oauth)", "Empty: NTLM, the default of Exchange's EWS virtual directory; oauth: an Entra ID app registration (Exchange Online, hybrid)."),
    "notifications": ("New mail notifications (streaming or polling)", "Empty: streaming; polling waits the minimum polling interval instead."),
}  # fmt: skip

_GENERAL = [
    Field("name", "Name", required=True),
    Field("credential_source", "Authenticate using", "choice", _CREDENTIALS),
    Field("same_credentials_for_outgoing", "Use same settings for outgoing connections", "bool"),
]
_SERVERS = [
    Field("incoming_host", "Incoming server location"),
    Field("incoming_port", "Incoming port", "port", hint="Empty: the usual port for the security chosen"),
    Field("incoming_security", "Incoming connection security", "choice", _SECURITY),
    Field("outgoing_host", "Outgoing (SMTP) server location"),
    Field("outgoing_port", "Outgoing port", "port", hint="Empty: the usual port for the security chosen"),
    Field("outgoing_security", "Outgoing connection security", "choice", _SECURITY),
    Field("allow_insecure", "Allow unencrypted connections (not recommended)", "bool"),
    Field("verify_certificates", "Verify server certificates", "bool"),
]  # fmt: skip
_ADVANCED = [
    Field("process_email_received_after", "Process email received after (UTC)", "datetime"),
    Field("min_polling_interval_minutes", "Minimum polling intervals in minutes", "int"),
    Field("max_concurrent_connections", "Maximum concurrent connections", "int"),
    Field("connection_timeout_seconds", "Connection timeout in seconds", "int"),
    Field("move_failed_to_undeliverable", "Move failed emails to the Undeliverable folder", "bool"),
]
_KEPT = "Stored encrypted; never shown again. Leave empty to keep the current one."
_SECRET = [
    Field("username", "User name (credentials held by the profile)"),
    Field("password", "Password", "password", hint=_KEPT),
]
#: What the profile's own credential is, for the kinds whose secret is not a password.
_SECRETS_BY_KIND = {
    ServerProfileKind.EXCHANGE_ONLINE: [
        Field("username", "Application (client) ID"),
        Field("password", "Client secret value, or the certificate's private key and certificate (PEM)", "secret_text", hint=_KEPT),
    ],
    ServerProfileKind.EXCHANGE_SERVER: [
        Field("username", "Service account (user@domain or DOMAIN\\user); with OAuth, the Application (client) ID"),
        Field("password", "Service account password; with OAuth, the client secret value", "password", hint=_KEPT),
    ],
    ServerProfileKind.GMAIL: [
        Field("username", "Service account email (client_email of the key)"),
        Field("password", "The service account's JSON key file, its whole content", "secret_text", hint=_KEPT),
    ],
}  # fmt: skip


def sections_for(kind: ServerProfileKind) -> list[tuple[str, list[Field]]]:
    options = []
    for name in KIND_OPTIONS[kind]:
        label, hint = OPTION_LABELS.get(name, (name, ""))
        if name in OPTION_CHOICES:
            words = tuple((w, w.capitalize()) for w in OPTION_CHOICES[name])
            choices = (("", "Default"), *words)
            options.append(Field(f"options.{name}", label, "choice", choices, hint=hint))
        else:
            options.append(Field(f"options.{name}", label, hint=hint))
    sections = [("General", _GENERAL)]
    if kind in HOST_BASED_KINDS:
        sections.append(("Server locations and security", _SERVERS))
    sections += [("Settings of this kind", options), ("Advanced", _ADVANCED)]
    return sections


def _values(form: FormData, kind: ServerProfileKind) -> dict[str, object]:
    fields = [f for _, fs in sections_for(kind) for f in fs]
    values = changes_from(form, fields, ServerProfileUpdate)
    options = values.get("options")
    if isinstance(options, dict):
        values["options"] = {k: v for k, v in options.items() if v}
    return values


def _secret(form: FormData) -> ProfileSecret | None:
    username, password = form.get("username"), form.get("password")
    if isinstance(username, str) and username.strip() and isinstance(password, str) and password:
        return ProfileSecret(username.strip(), password, Direction.INCOMING)
    return None


@router.get("/profiles/new")
def new_profile(
    request: Request,
    tidings: TidingsDep,
    visitor: VisitorDep,
    kind: ServerProfileKind | None = None,
) -> HTMLResponse:
    visitor.require(Privilege.WRITE_SERVER_PROFILES)
    if kind is None:
        return page(request, "profile_kind.html", visitor, kinds=KIND_LABELS)
    blank = ServerProfile(name="", kind=kind)
    return _form(request, visitor, blank, None)


def _form(
    request: Request,
    visitor: Visitor,
    profile: ServerProfile,
    profile_id: int | None,
    *,
    error: UserError | None = None,
    submitted: FormData | None = None,
    warnings: list[str] | None = None,
    usernames: dict[Direction, str] | None = None,
    mailboxes: list[MailboxRow] | None = None,
    test: ProfileTestReport | None = None,
    test_error: str | None = None,
    posted: Posted | None = None,
) -> HTMLResponse:
    return page(
        request,
        "profile.html",
        visitor,
        status_code=form_status(error) if error else 200,
        profile=profile,
        profile_id=profile_id,
        kind_label=KIND_LABELS[profile.kind.value],
        sections=sections_for(profile.kind),
        all_fields=[f for _, fields in sections_for(profile.kind) for f in fields],
        secret_fields=_SECRETS_BY_KIND.get(profile.kind, _SECRET),
        error=str(error) if error else None,
        field_errors=error.errors if isinstance(error, FieldErrors) else {},
        submitted=submitted,
        warnings=warnings or [],
        usernames=usernames or {},
        mailboxes=mailboxes or [],
        test=test,
        test_error=test_error,
        test_fields=test_fields(mailboxes or []),
        posted=posted,
    )


@router.post("/profiles/new", response_model=None)
async def create_profile(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    kind: Annotated[ServerProfileKind, Form()],
) -> Response:
    # A refusal is the not-authorized page; only what the form got wrong is shown on it.
    visitor.require(Privilege.WRITE_SERVER_PROFILES)
    form = await request.form()
    try:
        values = {**_values(form, kind), "kind": kind.value}
        view = tidings.server_profiles.create(visitor.caller, values, _secret(form))
    except UserError as error:
        return _form(
            request, visitor, ServerProfile(name="", kind=kind), None, error=error,
            submitted=form,
        )  # fmt: skip
    return RedirectResponse(f"/profiles/{view.profile.id}?done=created", status_code=303)


@router.get("/profiles/{profile_id}")
def profile_detail(
    request: Request, tidings: TidingsDep, visitor: VisitorDep, profile_id: PathId
) -> HTMLResponse:
    return _record_page(request, tidings, visitor, profile_id)


def _record_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    profile_id: int,
    *,
    error: UserError | None = None,
    submitted: FormData | None = None,
    test: ProfileTestReport | None = None,
    test_error: UserError | None = None,
    posted: Posted | None = None,
) -> HTMLResponse:
    """A stored profile: its form, its mailboxes as a subgrid, and Test connection."""
    view = tidings.server_profiles.get(visitor.caller, profile_id)
    rows = _profile_mailboxes(tidings, visitor, profile_id)
    answer = _form(
        request, visitor, view.profile, profile_id, error=error, submitted=submitted,
        warnings=view.warnings, usernames=view.credential_usernames, mailboxes=rows,
        test=test, test_error=str(test_error) if test_error else None, posted=posted,
    )  # fmt: skip
    if test_error:
        answer.status_code = form_status(test_error)
    elif posted is not None:
        answer.status_code = 422
    return answer


def test_fields(mailboxes: list[MailboxRow]) -> list[Field]:
    """Test connection's form: whose login it tries, checked as the API's ``ConnectionTestIn``."""
    listed = tuple((str(r.mailbox.id), r.mailbox.address) for r in mailboxes)
    return [
        Field("mailbox_id", "A mailbox using this profile", "id_choice", (("", "(the user name below)"), *listed), form_key="test"),
        Field("username", "Or test user name", form_key="test"),
        Field("password", "Test password", "password", hint="Used for this test only; not kept.", form_key="test"),
    ]  # fmt: skip


@router.post("/profiles/{profile_id}/test", response_model=None)
async def test_connection(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, profile_id: PathId
) -> Response:
    """Test connection: each direction's result on the profile's page; what was typed is
    not shown again (the user name is, beside its problem)."""
    form = await request.form()
    fields = test_fields(_profile_mailboxes(tidings, visitor, profile_id))
    try:
        values = changes_from(form, fields, ConnectionTestIn, blank_is_absent=True)
        mailbox_id = values.get("mailbox_id")
        login = TestLogin(
            mailbox_id if isinstance(mailbox_id, int) else None,
            str(values.get("username") or ""), str(values.get("password") or ""),
        )  # fmt: skip
        report = await tidings.mailboxes.test_profile(visitor.caller, profile_id, login)
    except FieldErrors as error:
        posted = refused("test", form, error, fields)
        return _record_page(request, tidings, visitor, profile_id, posted=posted)
    except UserError as error:
        return _record_page(request, tidings, visitor, profile_id, test_error=error)
    return _record_page(request, tidings, visitor, profile_id, test=report)


def _profile_mailboxes(tidings: TidingsDep, visitor: Visitor, profile_id: int) -> list[MailboxRow]:
    if not visitor.can(Privilege.READ_MAILBOXES):
        return []
    return tidings.mailbox_setup.rows_of_profile(visitor.caller, profile_id)


@router.post("/profiles/{profile_id}", response_model=None)
async def save_profile(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, profile_id: PathId
) -> Response:
    form = await request.form()
    view = tidings.server_profiles.get(visitor.caller, profile_id)
    try:
        tidings.server_profiles.update(visitor.caller, profile_id, _values(form, view.profile.kind))
        secret = _secret(form)
        if secret is not None:
            tidings.server_profiles.set_credentials(visitor.caller, profile_id, secret)
    except UserError as error:
        return _record_page(request, tidings, visitor, profile_id, error=error, submitted=form)
    return RedirectResponse(f"/profiles/{profile_id}?done=saved", status_code=303)


@router.post("/profiles/{profile_id}/delete", response_model=None)
async def delete_profile(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, profile_id: PathId
) -> Response:
    view = tidings.server_profiles.get(visitor.caller, profile_id)
    asked = await ask_first(
        request, visitor, question=f"Delete the email server profile {view.profile.name}?",
        verb="Delete", back=f"/profiles/{profile_id}",
    )  # fmt: skip
    if asked is not None:
        return asked
    tidings.server_profiles.delete(visitor.caller, profile_id)
    return RedirectResponse("/profiles?done=deleted", status_code=303)
