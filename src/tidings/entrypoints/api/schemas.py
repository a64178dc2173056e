"""What the API returns: public shapes, separate from the domain's classes."""

from datetime import datetime

from pydantic import BaseModel

from tidings.domain.activity import EmailActivity
from tidings.domain.mailbox import Mailbox
from tidings.domain.records import RecordRef, RecordSummary
from tidings.domain.sync import FolderSync, MailboxSync
from tidings.services.explain import Explanation
from tidings.services.queries import ActivityDetail


class RecordPublic(BaseModel):
    ref: str
    kind: str
    id: int
    name: str | None = None

    @classmethod
    def of(cls, ref: RecordRef, names: dict[RecordRef, RecordSummary]) -> "RecordPublic":
        summary = names.get(ref)
        return cls(
            ref=str(ref), kind=ref.kind.value, id=ref.id, name=summary.name if summary else None
        )


class PartyPublic(BaseModel):
    role: str
    address: str
    name: str
    resolved: bool
    record: RecordPublic | None


class AttachmentPublic(BaseModel):
    filename: str
    content_type: str
    size: int
    blocked: bool
    blocked_reason: str | None


class ReasonPublic(BaseModel):
    rule: str
    verdict: str
    reason: str


class TracePublic(BaseModel):
    outcome: str | None
    summary: str
    mailbox: str
    folder: str
    correlation: str | None
    reasons: list[ReasonPublic]

    @classmethod
    def of(cls, trace: Explanation) -> "TracePublic":
        return cls(
            outcome=trace.outcome.value if trace.outcome else None,
            summary=trace.summary,
            mailbox=trace.mailbox_address,
            folder=trace.folder,
            correlation=trace.correlation.method.value if trace.correlation else None,
            reasons=[
                ReasonPublic(rule=r.rule, verdict=r.verdict.value, reason=r.text)
                for r in trace.reasons
            ],
        )


class CorrelationPublic(BaseModel):
    """How the email was correlated, and the tracked email it matched (the one it answers)."""

    method: str
    matched_activity_id: int | None


class ActivitySummaryPublic(BaseModel):
    id: int
    subject: str
    direction: str
    status: str
    message_id: str | None
    received_at: datetime | None
    owner: RecordPublic
    mailbox_id: int | None
    regarding: RecordPublic | None
    correlation: CorrelationPublic
    conversation_id: str | None
    in_reply_to: str | None
    references: list[str]
    parties: list[PartyPublic]

    @classmethod
    def of(
        cls, activity: EmailActivity, names: dict[RecordRef, RecordSummary]
    ) -> "ActivitySummaryPublic":
        assert activity.id is not None  # noqa: S101 - loaded from storage
        return cls(
            id=activity.id,
            subject=activity.subject,
            direction=activity.direction.value,
            status=activity.status.value,
            message_id=activity.message_id,
            received_at=activity.received_at,
            owner=RecordPublic.of(activity.owner, names),
            mailbox_id=activity.mailbox_id,
            regarding=RecordPublic.of(activity.regarding, names) if activity.regarding else None,
            correlation=CorrelationPublic(
                method=activity.correlation.value,
                matched_activity_id=activity.matched_activity_id,
            ),
            conversation_id=activity.conversation_id,
            in_reply_to=activity.in_reply_to,
            references=list(activity.references),
            parties=[
                PartyPublic(
                    role=p.role.value,
                    address=p.address,
                    name=p.name,
                    resolved=p.is_resolved,
                    record=RecordPublic.of(p.party, names) if p.party else None,
                )
                for p in activity.parties
            ],
        )


class ActivityPublic(ActivitySummaryPublic):
    mailbox: str | None
    text_body: str
    has_html_body: bool
    attachments: list[AttachmentPublic]
    trace: TracePublic | None

    @classmethod
    def of_detail(cls, detail: ActivityDetail) -> "ActivityPublic":
        activity = detail.activity
        base = ActivitySummaryPublic.of(activity, detail.names)
        return cls(
            **base.model_dump(),
            mailbox=detail.mailbox_address,
            text_body=activity.text_body,
            has_html_body=activity.html_body is not None,
            attachments=[
                AttachmentPublic(
                    filename=a.filename,
                    content_type=a.content_type,
                    size=a.size,
                    blocked=a.is_blocked,
                    blocked_reason=a.blocked_reason,
                )
                for a in activity.attachments
            ],
            trace=TracePublic.of(detail.trace) if detail.trace else None,
        )


class ActivityPage(BaseModel):
    items: list[ActivitySummaryPublic]
    total: int
    limit: int
    offset: int


class ConversationPublic(BaseModel):
    """One conversation's activities, oldest first."""

    conversation_id: str
    items: list[ActivitySummaryPublic]
    total: int
    limit: int
    offset: int


class AlertPublic(BaseModel):
    level: str
    text: str
    raised_at: datetime


class ProgressPublic(BaseModel):
    done: int
    total: int


class FolderSyncPublic(BaseModel):
    folder: str
    mode: str | None
    #: When sync last found the folder caught up with the server.
    last_sync: datetime | None
    #: Messages on the server not yet ingested, as last counted.
    backlog: int
    first_sync: ProgressPublic | None
    last_error: str | None
    uidvalidity: int | None
    last_uid: int | None
    highest_modseq: int | None
    #: When the cursor last moved (raw bytes committed).
    cursor_moved_at: datetime | None
    #: When the worker last recorded this folder's state.
    state_recorded_at: datetime | None

    @classmethod
    def of(cls, folder: FolderSync) -> "FolderSyncPublic":
        cursor, state = folder.cursor, folder.state
        progress = None
        if state is not None and state.first_sync_total is not None:
            progress = ProgressPublic(done=state.first_sync_done or 0, total=state.first_sync_total)
        return cls(
            folder=folder.folder,
            mode=folder.mode.value if folder.mode else None,
            last_sync=state.checked_at if state else None,
            backlog=state.backlog if state else 0,
            first_sync=progress,
            last_error=state.last_error if state else None,
            uidvalidity=cursor.uidvalidity if cursor else None,
            last_uid=cursor.last_uid if cursor else None,
            highest_modseq=cursor.highest_modseq if cursor else None,
            cursor_moved_at=cursor.synced_at if cursor else None,
            state_recorded_at=state.updated_at if state else None,
        )


class HolderPublic(BaseModel):
    #: host:pid of the ``tidings worker`` process.
    worker: str
    since: datetime


class MailboxPublic(BaseModel):
    id: int
    address: str
    owner: str
    approval: str
    incoming_method: str
    outgoing_method: str
    incoming_status: str
    outgoing_status: str
    enabled: bool
    alerts: list[AlertPublic]
    #: "idle" (pushed by IMAP IDLE), "polling", "catching_up", "connecting", "backing_off"
    #: or "disabled"; "stopped" when no sync worker has reported for a minute; null until
    #: the worker first reaches the mailbox.
    sync_mode: str | None
    last_sync: datetime | None
    backlog: int
    #: Done of total while a first sync runs, else null.
    first_sync: ProgressPublic | None
    folders: list[FolderSyncPublic]
    #: The worker syncing the mailbox now, where any number of workers share the mailboxes
    #: (PostgreSQL); null while none holds it.
    held_by: HolderPublic | None = None

    @classmethod
    def of(cls, mailbox: Mailbox, sync: MailboxSync) -> "MailboxPublic":
        assert mailbox.id is not None  # noqa: S101 - loaded from storage
        first_sync = sync.first_sync
        return cls(
            id=mailbox.id,
            address=mailbox.address,
            owner=str(mailbox.owner),
            approval=mailbox.approval.value,
            incoming_method=mailbox.incoming_method.value,
            outgoing_method=mailbox.outgoing_method.value,
            incoming_status=mailbox.incoming_status.value,
            outgoing_status=mailbox.outgoing_status.value,
            enabled=mailbox.enabled,
            alerts=[
                AlertPublic(level=a.level.value, text=a.text, raised_at=a.raised_at)
                for a in mailbox.alerts
            ],
            sync_mode=sync.mode.value if sync.mode else None,
            last_sync=sync.last_sync,
            backlog=sync.backlog,
            first_sync=(
                ProgressPublic(done=first_sync[0], total=first_sync[1]) if first_sync else None
            ),
            folders=[FolderSyncPublic.of(folder) for folder in sync.folders],
            held_by=(
                HolderPublic(worker=sync.held_by.worker, since=sync.held_by.since)
                if sync.held_by
                else None
            ),
        )


class ParkedPublic(BaseModel):
    id: int
    mailbox: str
    folder: str
    message_id: str | None
    stage: str
    error_type: str
    attempts: int
    parked_at: datetime
