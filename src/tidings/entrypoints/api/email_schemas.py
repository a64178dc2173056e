"""What the email-writing API takes and returns: separate Create, Update and Public shapes."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tidings.domain.activity import ParticipationRole
from tidings.domain.compose import MAX_RECIPIENTS, MAX_SUBJECT
from tidings.services.compose import EmailView

#: An address (``maria@contoso.example``) or a record (``contact:3``).
Recipient = Annotated[
    str, StringConstraints(min_length=1, max_length=320, pattern=r"^[^\x00-\x1f\x7f,;]+$")
]
Recipients = Annotated[list[Recipient], Field(max_length=MAX_RECIPIENTS)]
Subject = Annotated[str, Field(max_length=MAX_SUBJECT)]
#: Rich text; sanitized on the server before it is kept.
HtmlBody = Annotated[str, Field(max_length=1_000_000)]
RecordText = Annotated[str, StringConstraints(pattern=r"^[a-z]+:\d{1,10}$")]


class EmailCreate(BaseModel):
    """A new draft; with ``in_reply_to`` it answers or forwards that email activity."""

    model_config = ConfigDict(extra="forbid")

    mailbox_id: int = Field(ge=1, le=2**31 - 1)
    to: Recipients = []
    cc: Recipients = []
    bcc: Recipients = []
    subject: Subject = ""
    html_body: HtmlBody = ""
    regarding: RecordText | None = None
    in_reply_to: int | None = Field(default=None, ge=1, le=2**31 - 1)
    mode: Literal["reply", "reply_all", "forward"] | None = None


class EmailUpdate(BaseModel):
    """Changes to a draft: only the fields given change (``regarding: null`` clears it)."""

    model_config = ConfigDict(extra="forbid")

    to: Recipients | None = None
    cc: Recipients | None = None
    bcc: Recipients | None = None
    subject: Subject | None = None
    html_body: HtmlBody | None = None
    regarding: RecordText | None = None


class EmailRetry(BaseModel):
    """Confirm that an email interrupted mid-handover did not arrive, to send it again."""

    model_config = ConfigDict(extra="forbid")

    confirm_not_delivered: bool = False


class RecipientPublic(BaseModel):
    address: str
    name: str
    record: str | None


class DraftAttachmentPublic(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int


class EmailPublic(BaseModel):
    id: int
    mailbox_id: int | None
    status: str
    subject: str
    html_body: str | None
    text_body: str
    sender: RecipientPublic | None
    to: list[RecipientPublic]
    cc: list[RecipientPublic]
    bcc: list[RecipientPublic]
    regarding: str | None
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    original_id: int | None
    mode: str | None
    tracking_token: str | None
    attachments: list[DraftAttachmentPublic]
    failure_reason: str | None
    attempts: int
    sent_copy: str | None

    @classmethod
    def of(cls, view: EmailView) -> "EmailPublic":
        activity, composition, outbox = view.activity, view.composition, view.outbox

        def role(which: ParticipationRole) -> list[RecipientPublic]:
            seen: dict[str, RecipientPublic] = {}
            for p in activity.parties:
                if p.role is which and p.address not in seen:
                    record = str(p.party) if p.party else None
                    seen[p.address] = RecipientPublic(address=p.address, name=p.name, record=record)
            return list(seen.values())

        senders = role(ParticipationRole.FROM)
        assert activity.id is not None  # noqa: S101 - stored
        return cls(
            id=activity.id,
            mailbox_id=activity.mailbox_id,
            status=activity.status.value,
            subject=activity.subject,
            html_body=activity.html_body,
            text_body=activity.text_body,
            sender=senders[0] if senders else None,
            to=role(ParticipationRole.TO),
            cc=role(ParticipationRole.CC),
            bcc=role(ParticipationRole.BCC),
            regarding=str(activity.regarding) if activity.regarding else None,
            message_id=activity.message_id,
            in_reply_to=activity.in_reply_to,
            references=list(composition.references) if composition else [],
            original_id=composition.original_id if composition else None,
            mode=composition.mode.value if composition and composition.mode else None,
            tracking_token=activity.tracking_token,
            attachments=[
                DraftAttachmentPublic(
                    id=a.id,
                    filename=a.attachment.filename,
                    content_type=a.attachment.content_type,
                    size=a.attachment.size,
                )
                for a in view.attachments
            ],
            failure_reason=view.failure_reason,
            attempts=outbox.attempts if outbox else 0,
            sent_copy=outbox.sent_copy if outbox else None,
        )
