"""What the mailbox administration endpoints accept and return: mailboxes, folder rules,
tracking by hand and parked email. No shape carries a password."""

import dataclasses
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from tidings.domain.credentials import Direction
from tidings.domain.folders import FolderTrackingRule
from tidings.domain.mailbox import Mailbox
from tidings.domain.settings import SyncMethod
from tidings.entrypoints.api.admin_schemas import (
    Address,
    Id,
    Name,
    RecordText,
    StrictModel,
    storable,
)
from tidings.services.mailbox_setup import MailboxDetail, MailboxRow
from tidings.services.manual_tracking import KeptEmail
from tidings.services.tracking.results import IngestResult

# Mailboxes --------------------------------------------------------------------------------


class FolderRulePublic(BaseModel):
    folder: str
    regarding: str | None

    @classmethod
    def of(cls, rule: FolderTrackingRule) -> "FolderRulePublic":
        return cls(folder=rule.folder, regarding=str(rule.regarding) if rule.regarding else None)


class MailboxAlertPublic(BaseModel):
    level: str
    text: str
    raised_at: datetime


class MailboxAdminPublic(BaseModel):
    id: int
    address: str
    owner: str
    owner_name: str | None
    profile_id: int | None
    profile_name: str | None
    incoming_method: SyncMethod
    outgoing_method: SyncMethod
    approval: str
    incoming_status: str
    outgoing_status: str
    enabled: bool
    alerts: list[MailboxAlertPublic]
    folder_rules: list[FolderRulePublic]
    credential_usernames: dict[Direction, str] = Field(
        description="User names of the mailbox's own logins; passwords are never shown"
    )
    test_scheduled: bool | None = Field(
        None,
        description="True while a queued Test & Enable waits for a worker or runs on one: "
        "the statuses and alerts are still those of the test before. False once it has run "
        "(its results are then shown). Read on one mailbox (GET /api/mailboxes/{id}); null "
        "in lists",
    )

    @classmethod
    def of(cls, detail: MailboxDetail | MailboxRow) -> "MailboxAdminPublic":
        return cls.of_mailbox(detail.mailbox, detail)

    @classmethod
    def of_mailbox(
        cls, mailbox: Mailbox, detail: MailboxDetail | MailboxRow | None = None
    ) -> "MailboxAdminPublic":
        assert mailbox.id is not None  # noqa: S101 - stored mailboxes have ids
        full = detail if isinstance(detail, MailboxDetail) else None
        return cls(
            id=mailbox.id,
            address=mailbox.address,
            owner=str(mailbox.owner),
            owner_name=detail.owner_name if detail else None,
            profile_id=mailbox.profile_id,
            profile_name=detail.profile_name if detail else None,
            incoming_method=mailbox.incoming_method,
            outgoing_method=mailbox.outgoing_method,
            approval=mailbox.approval.value,
            incoming_status=mailbox.incoming_status.value,
            outgoing_status=mailbox.outgoing_status.value,
            enabled=mailbox.enabled,
            alerts=[
                MailboxAlertPublic(level=a.level.value, text=a.text, raised_at=a.raised_at)
                for a in mailbox.alerts
            ],
            folder_rules=[FolderRulePublic.of(r) for r in full.folder_rules] if full else [],
            credential_usernames=full.credential_usernames if full else {},
            test_scheduled=full.test_scheduled if full else None,
        )


class MailboxCreate(StrictModel):
    address: Address
    owner: RecordText = Field(description="user:ID or queue:ID")
    profile_id: Id | None = None
    incoming_method: SyncMethod | None = None
    outgoing_method: SyncMethod | None = None


class MailboxUpdate(StrictModel):
    address: Address | None = Field(None, description="A new address must be approved again")
    profile_id: Id | None = None
    incoming_method: SyncMethod | None = None
    outgoing_method: SyncMethod | None = None


#: One bulk request names at most this many mailboxes; ``all`` has no such limit.
MAX_NAMED_MAILBOXES = 10_000


class MailboxSelection(StrictModel):
    """The mailboxes a bulk action is for: by id, by address, or every one it applies to."""

    ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_NAMED_MAILBOXES)] | None = None
    addresses: (
        Annotated[list[Address], Field(min_length=1, max_length=MAX_NAMED_MAILBOXES)] | None
    ) = Field(None, description="Mailbox addresses; an unknown one refuses the whole request")
    all: bool = Field(
        False,
        description="Every mailbox the action applies to: pending approval for Approve "
        "Email, not enabled for Test & Enable",
    )

    @model_validator(mode="after")
    def _one_way(self) -> "MailboxSelection":
        given = [self.ids is not None, self.addresses is not None, self.all]
        if sum(given) != 1:
            raise ValueError("name the mailboxes by ids or by addresses, or say all: true; one")
        return self


class CheckPublic(BaseModel):
    status: str
    message: str


class TestReportPublic(BaseModel):
    mailbox_id: int
    address: str
    incoming: CheckPublic
    outgoing: CheckPublic
    enabled: bool


class QueuedTestPublic(BaseModel):
    """A Test & Enable handed to the workers: its results show on the mailbox once run."""

    mailbox_id: int
    address: str
    status: Literal["queued"] = "queued"
    location: str = Field(
        description="Where to read the mailbox: test_scheduled is true until the test has run"
    )


# Folder rules, tracking by hand, parked email ---------------------------------------------


class FolderRuleIn(StrictModel):
    folder: Name
    regarding: RecordText | None = None


class TrackIn(StrictModel):
    """Name the kept email by its id in the raw store or by its Message-ID."""

    raw_message_id: Id | None = None
    message_id: Annotated[str, StringConstraints(min_length=1, max_length=998), storable] | None = (
        None
    )


class KeptEmailPublic(BaseModel):
    raw_message_id: int
    mailbox_id: int
    folder: str
    message_id: str | None
    subject: str
    sender: str | None
    sent_at: datetime | None
    summary: str

    @classmethod
    def of(cls, kept: KeptEmail) -> "KeptEmailPublic":
        return cls(**dataclasses.asdict(kept))


class TrackPublic(BaseModel):
    raw_message_id: int
    activity_id: int
    summary: str


class UntrackIn(StrictModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500), storable]


class RegardingIn(StrictModel):
    regarding: RecordText | None = Field(description="KIND:ID, or null to clear it")


class RegardingPublic(BaseModel):
    activity_id: int
    regarding: str | None


class ReplayPublic(BaseModel):
    raw_message_id: int
    outcome: str
    summary: str
    activity_id: int | None

    @classmethod
    def of(cls, result: IngestResult) -> "ReplayPublic":
        return cls(
            raw_message_id=result.raw_message_id,
            outcome=result.outcome.value,
            summary=result.summary,
            activity_id=result.activity_id,
        )
