"""Email written in the CRM: drafts, replies and forwards, attachments, send and retry.

``POST /api/emails`` and ``POST /api/emails/{id}/send`` take an ``Idempotency-Key`` header:
a retried request with the same key answers as the first did and never creates or sends
twice.
"""

from typing import Annotated

from fastapi import APIRouter, File, Header, HTTPException, Path, Response, UploadFile, status

from tidings.domain.compose import MailboxCannotSendError, ReplyMode
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordRef
from tidings.entrypoints.api.deps import TidingsDep, require
from tidings.entrypoints.api.email_schemas import (
    EmailCreate,
    EmailPublic,
    EmailRetry,
    EmailUpdate,
)
from tidings.services.compose import DraftFields, IdempotencyKeyReusedError

#: The organization's limit is checked by the service; this only keeps the read bounded
#: (the largest limit the email configuration allows, plus one byte to tell it was passed).
MAX_UPLOAD = 131072 * 1024 + 1

router = APIRouter(prefix="/api/emails", tags=["emails"])
Writer = Annotated[Caller, require(Privilege.TRACK_EMAIL)]
EmailId = Annotated[int, Path(ge=1, le=2**31 - 1)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique text per request; a retry with the same key is answered "
        "as the first request was, without creating or sending again",
    ),
]


def _ref(value: str | None, name: str) -> RecordRef | None:
    if value is None:
        return None
    try:
        return RecordRef.parse(value)
    except ValueError as error:
        raise HTTPException(422, f"{name}: {error}") from error


def _unprocessable(error: Exception) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error))


@router.post("", response_model=EmailPublic, status_code=status.HTTP_201_CREATED)
def create_email(
    body: EmailCreate,
    tidings: TidingsDep,
    caller: Writer,
    response: Response,
    key: IdempotencyKey = None,
) -> EmailPublic:
    """Save a new draft email activity, or one that replies to or forwards ``in_reply_to``."""
    fields = DraftFields(
        to=tuple(body.to),
        cc=tuple(body.cc),
        bcc=tuple(body.bcc),
        subject=body.subject,
        html_body=body.html_body,
        regarding=_ref(body.regarding, "regarding"),
    )
    try:
        done = tidings.compose.create(
            caller,
            body.mailbox_id,
            fields,
            frozenset(body.model_fields_set),
            original_id=body.in_reply_to,
            mode=ReplyMode(body.mode) if body.mode else None,
            key=key,
        )
    except IdempotencyKeyReusedError as error:
        raise _unprocessable(error) from error
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/emails/{done.activity_id}"
    return EmailPublic.of(tidings.compose.get(caller, done.activity_id))


@router.get("/{email_id}", response_model=EmailPublic)
def get_email(email_id: EmailId, tidings: TidingsDep, caller: Writer) -> EmailPublic:
    """A draft, or an email on its way or sent, with its status and any failure reason."""
    return EmailPublic.of(tidings.compose.get(caller, email_id))


@router.patch("/{email_id}", response_model=EmailPublic)
def update_email(
    email_id: EmailId, body: EmailUpdate, tidings: TidingsDep, caller: Writer
) -> EmailPublic:
    """Change a draft; only the fields given change."""
    given = frozenset(body.model_fields_set)
    for name in ("to", "cc", "bcc", "subject", "html_body"):
        if name in given and getattr(body, name) is None:
            raise HTTPException(422, f"{name}: may not be null")
    fields = DraftFields(
        to=tuple(body.to or ()),
        cc=tuple(body.cc or ()),
        bcc=tuple(body.bcc or ()),
        subject=body.subject or "",
        html_body=body.html_body or "",
        regarding=_ref(body.regarding, "regarding"),
    )
    tidings.compose.update(caller, email_id, fields, given)
    return EmailPublic.of(tidings.compose.get(caller, email_id))


@router.delete("/{email_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_email(email_id: EmailId, tidings: TidingsDep, caller: Writer) -> Response:
    """Discard a draft."""
    tidings.compose.delete(caller, email_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{email_id}/attachments", response_model=EmailPublic, status_code=status.HTTP_201_CREATED
)
def add_attachment(
    email_id: EmailId,
    tidings: TidingsDep,
    caller: Writer,
    file: Annotated[UploadFile, File(description="The file to attach")],
) -> EmailPublic:
    """Attach a file to a draft, within the organization's size limit and blocked
    extensions (email configuration settings)."""
    content = file.file.read(MAX_UPLOAD)
    try:
        tidings.compose.add_attachment(
            caller,
            email_id,
            file.filename or "",
            file.content_type or "application/octet-stream",
            content,
        )
    except MailboxCannotSendError as error:  # pragma: no cover - not raised here
        raise _unprocessable(error) from error
    return EmailPublic.of(tidings.compose.get(caller, email_id))


@router.delete("/{email_id}/attachments/{attachment_id}", response_model=EmailPublic)
def remove_attachment(
    email_id: EmailId,
    attachment_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    tidings: TidingsDep,
    caller: Writer,
) -> EmailPublic:
    """Take an attachment off a draft."""
    tidings.compose.remove_attachment(caller, email_id, attachment_id)
    return EmailPublic.of(tidings.compose.get(caller, email_id))


@router.post("/{email_id}/send", response_model=EmailPublic, status_code=status.HTTP_202_ACCEPTED)
def send_email(
    email_id: EmailId,
    tidings: TidingsDep,
    caller: Writer,
    response: Response,
    key: IdempotencyKey = None,
) -> EmailPublic:
    """Queue a draft for sending through its mailbox: pending send, then sending, then sent
    (or failed, with the reason)."""
    try:
        done = tidings.compose.send(caller, email_id, key=key)
    except (MailboxCannotSendError, IdempotencyKeyReusedError) as error:
        raise _unprocessable(error) from error
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return EmailPublic.of(tidings.compose.get(caller, done.activity_id))


@router.post("/{email_id}/retry", response_model=EmailPublic, status_code=status.HTTP_202_ACCEPTED)
def retry_email(
    email_id: EmailId, tidings: TidingsDep, caller: Writer, body: EmailRetry | None = None
) -> EmailPublic:
    """Queue a failed email again. One whose sending was interrupted after the server got
    it is sent again only with ``confirm_not_delivered``."""
    confirmed = body.confirm_not_delivered if body else False
    try:
        tidings.compose.retry(caller, email_id, confirmed=confirmed)
    except MailboxCannotSendError as error:
        raise _unprocessable(error) from error
    return EmailPublic.of(tidings.compose.get(caller, email_id))
