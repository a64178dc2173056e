"""Writing email in the CRM: drafts, replies and forwards, attachments, sending and retrying.

A draft is an email activity in status *draft* with its Message-ID fixed from the start;
sending composes every byte and queues it in the outbox (``services.outgoing`` sends it).
Requests that carry an Idempotency-Key are remembered in the same transaction as what they
made, so a retried request finds the first one's result instead of doing it twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tidings.domain.activity import (
    ActivityParty,
    ActivityStatus,
    Attachment,
    CorrelationMethod,
    Direction,
    EmailActivity,
    ParticipationRole,
    SanitizedHtml,
)
from tidings.domain.address_forms import unsendable
from tidings.domain.attachments import blocked_reason
from tidings.domain.compose import (
    MAX_RECIPIENTS,
    NOT_YOUR_MAILBOX,
    Composition,
    DraftAttachment,
    MailboxCannotSendError,
    RememberedRequest,
    ReplyMode,
    check_subject,
    html_to_text,
    may_send_from,
    quote_original,
    recipients_of,
    references_of,
    reply_addressing,
    reply_subject,
    text_as_html,
    why_cannot_send,
)
from tidings.domain.correlation import find_tracking_token, format_tracking_token, subject_key
from tidings.domain.errors import (
    ConflictError,
    FieldValueError,
    NotAuthorizedError,
    NotFoundError,
    ValidationError,
)
from tidings.domain.mailbox import Mailbox
from tidings.domain.message import AttachmentPart, HeaderSummary, try_parse_headers
from tidings.domain.outgoing import (
    OutboxPhase,
    OutgoingAttachment,
    OutgoingEmail,
    compose,
    may_retry,
    new_message_id,
    subject_with_token,
)
from tidings.domain.people import Caller, Privilege
from tidings.domain.record_fields import RecordQuery, ref_of
from tidings.domain.records import (
    RecordKind,
    RecordRef,
    RecordSummary,
    is_email_address,
    normalize_address,
)
from tidings.domain.stored import OutboxItem
from tidings.services.ports import Clock, UnitOfWork

#: Kinds of record a recipient may be named by (``contact:3``).
RECIPIENT_KINDS = frozenset(
    {RecordKind.CONTACT, RecordKind.LEAD, RecordKind.ACCOUNT, RecordKind.USER, RecordKind.QUEUE}
)


class HtmlCleaner(Protocol):
    """The sanitizer received HTML goes through (nh3)."""

    def clean(self, html: str, *, remote_images: bool) -> SanitizedHtml: ...


class IdempotencyKeyReusedError(ValidationError):
    """An Idempotency-Key came back with a different request than the first time."""


@dataclass(frozen=True)
class DraftFields:
    """What a person writes; on update only the fields named in ``given`` change."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = ""
    html_body: str = ""
    regarding: RecordRef | None = None


ALL_FIELDS = frozenset({"to", "cc", "bcc", "subject", "html_body", "regarding"})


@dataclass(frozen=True)
class EmailView:
    """An email written in the CRM as its writer sees it."""

    activity: EmailActivity
    attachments: list[DraftAttachment]
    composition: Composition | None
    outbox: OutboxItem | None

    @property
    def failure_reason(self) -> str | None:
        if self.outbox is None or self.outbox.phase is not OutboxPhase.FAILED:
            return None
        return self.outbox.last_error


@dataclass(frozen=True)
class Done:
    """The activity a request made or acted on; ``replayed`` when an earlier request with
    the same Idempotency-Key had already done it."""

    activity_id: int
    replayed: bool = False


class ComposeService:
    """Drafts, sending and retrying, each checked against who may send from the mailbox."""

    def __init__(
        self, uow_factory: Callable[[], UnitOfWork], clock: Clock, sanitizer: HtmlCleaner
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._sanitizer = sanitizer

    # -- reading ---------------------------------------------------------------------------

    def sendable_mailboxes(self, caller: Caller) -> list[Mailbox]:
        """The mailboxes the caller may write from."""
        with self._uow() as uow:
            return [m for m in uow.mailboxes.all() if may_send_from(caller, m)]

    def find_recipients(self, caller: Caller, text: str, limit: int = 10) -> list[RecordSummary]:
        """Contacts, leads, accounts and users whose name or address contains ``text``, with
        an address to send to."""
        caller.require(Privilege.TRACK_EMAIL)
        text = text.strip()
        if not text:
            return []
        # Records as far as the caller's level of read_records reaches; users are the
        # organization's colleagues, found by anyone who writes email.
        reach = caller.reach(Privilege.READ_RECORDS)
        with self._uow() as uow:
            refs = [
                ref_of(record)
                for kind in (RecordKind.CONTACT, RecordKind.LEAD, RecordKind.ACCOUNT)
                for record in uow.records.search(
                    kind, RecordQuery(search=text, limit=limit), scope=reach
                )
            ]
            needle = text.lower()
            refs += [
                u.ref
                for u in uow.directory.list_users()
                if u.is_active and (needle in u.full_name.lower() or needle in u.email)
            ][:limit]
            names = uow.directory.summaries(refs)
        return [names[ref] for ref in refs if ref in names and names[ref].emails]

    def get(self, caller: Caller, activity_id: int) -> EmailView:
        caller.require(Privilege.TRACK_EMAIL)
        with self._uow() as uow:
            activity = self._require_email(uow, caller, activity_id)
            return EmailView(
                activity,
                uow.compose.attachments(activity_id),
                uow.compose.composition(activity_id),
                uow.outbox.get(activity_id),
            )

    # -- drafts ----------------------------------------------------------------------------

    def create(
        self,
        caller: Caller,
        mailbox_id: int,
        fields: DraftFields,
        given: frozenset[str] = ALL_FIELDS,
        *,
        original_id: int | None = None,
        mode: ReplyMode | None = None,
        key: str | None = None,
    ) -> Done:
        """A new draft; started from ``original_id`` it answers or forwards that email."""
        caller.require(Privilege.TRACK_EMAIL)
        fingerprint = _fingerprint(
            "create", mailbox_id, fields, sorted(given), original_id, mode and mode.value
        )
        now = self._clock.now()
        with self._uow() as uow:
            if key is not None:
                earlier = self._remembered(uow, caller, "create", key, fingerprint)
                if earlier is not None:
                    return Done(earlier, replayed=True)
            mailbox = uow.mailboxes.get(mailbox_id)
            if mailbox is None:
                raise NotFoundError(f"no mailbox with id {mailbox_id}")
            if not may_send_from(caller, mailbox):
                raise NotAuthorizedError(NOT_YOUR_MAILBOX)
            config = uow.settings.get()
            owner_name = self._owner_name(uow, mailbox)
            subject = check_subject(fields.subject)
            body = fields.html_body
            to, cc, bcc = fields.to, fields.cc, fields.bcc
            regarding = fields.regarding
            in_reply_to: str | None = None
            references: tuple[str, ...] = ()
            token: str | None = None
            forwarded: list[Attachment] = []
            original: EmailActivity | None = None
            if original_id is not None:
                mode = mode or ReplyMode.REPLY
                original = uow.activities.get(
                    original_id, scope=caller.scope(Privilege.READ_ACTIVITIES)
                )
                if original is None:
                    raise NotFoundError(f"no email activity with id {original_id}")
                if "subject" not in given:
                    subject = check_subject(reply_subject(original.subject, mode))
                written = self._original_headers(uow, original)
                reply_to = [a.address for a in written.reply_to] if written else []
                addressing = reply_addressing(original, mode, [mailbox.address], reply_to)
                if "to" not in given:
                    to = addressing.to
                if "cc" not in given:
                    cc = addressing.cc
                if "regarding" not in given:
                    regarding = original.regarding
                quoted = original.html_body or text_as_html(original.text_body)
                body = body + quote_original(original, quoted, original.received_at)
                references = references_of(
                    original, original.references or self._references(uow, original, written)
                )
                if mode is not ReplyMode.FORWARD:
                    in_reply_to = original.message_id
                if config.use_tracking_token:
                    token = original.tracking_token or find_tracking_token(
                        original.subject, config.tracking_token
                    )
                if mode is ReplyMode.FORWARD:
                    forwarded = [
                        a.attachment
                        for a in uow.compose.attachments(original_id)
                        if not a.attachment.is_blocked and a.attachment.content is not None
                    ]
            elif mode is not None:
                raise ValidationError("mode: give in_reply_to, the email to answer or forward")
            parties = self._parties(uow, mailbox, owner_name, to, cc, bcc)
            self._check_regarding(uow, regarding)
            html_body = self._clean(body)
            message_id = new_message_id(mailbox.address)
            activity = EmailActivity(
                owner=mailbox.owner,
                mailbox_id=mailbox_id,
                subject=subject,
                direction=Direction.OUTGOING,
                status=ActivityStatus.DRAFT,
                message_id=message_id,
                # Lists sort by this time; an activity without one would sort apart.
                received_at=now,
                text_body=html_to_text(html_body),
                html_body=html_body,
                in_reply_to=in_reply_to,
                references=references,
                # A reply or a forward stays in the conversation of the email it answers.
                conversation_id=original.conversation_id if original is not None else None,
                matched_activity_id=original_id,
                correlation=(
                    CorrelationMethod.IN_REPLY_TO
                    if in_reply_to is not None
                    else CorrelationMethod.NONE
                ),
                subject_key=subject_key(subject, config.tracking_token),
                tracking_token=token,
                regarding=regarding,
                parties=parties,
                attachments=forwarded,
                created_at=now,
            )
            activity_id = uow.activities.add(activity, message_id)
            if config.use_tracking_token and token is None:
                activity.tracking_token = format_tracking_token(
                    config.tracking_token, user_number=mailbox.owner.id, counter=activity_id
                )
                uow.compose.save_draft(activity)
            uow.compose.add_composition(
                Composition(activity_id, original_id, mode, references, caller.user.id)
            )
            if key is not None:
                done = self._remember(uow, caller, "create", key, fingerprint, activity_id)
                if done is not None:
                    return done
            uow.commit()
        return Done(activity_id)

    def update(
        self, caller: Caller, activity_id: int, fields: DraftFields, given: frozenset[str]
    ) -> None:
        """Change the fields named in ``given`` of a draft."""
        caller.require(Privilege.TRACK_EMAIL)
        with self._uow() as uow:
            activity = self._require_draft(uow, caller, activity_id)
            mailbox = uow.mailboxes.get(activity.mailbox_id or 0)
            assert mailbox is not None  # noqa: S101 - checked by _require_draft
            config = uow.settings.get()
            if "subject" in given:
                activity.subject = check_subject(fields.subject)
                activity.subject_key = subject_key(activity.subject, config.tracking_token)
            if "html_body" in given:
                activity.html_body = self._clean(fields.html_body)
                activity.text_body = html_to_text(activity.html_body)
            if "regarding" in given:
                self._check_regarding(uow, fields.regarding)
                activity.regarding = fields.regarding
            if given & {"to", "cc", "bcc"}:
                current = {
                    role: recipients_of(activity.parties, role)
                    for role in (ParticipationRole.TO, ParticipationRole.CC, ParticipationRole.BCC)
                }
                to = fields.to if "to" in given else current[ParticipationRole.TO]
                cc = fields.cc if "cc" in given else current[ParticipationRole.CC]
                bcc = fields.bcc if "bcc" in given else current[ParticipationRole.BCC]
                activity.parties = self._parties(
                    uow, mailbox, self._owner_name(uow, mailbox), to, cc, bcc
                )
            uow.compose.save_draft(activity)
            uow.commit()

    def delete(self, caller: Caller, activity_id: int) -> None:
        caller.require(Privilege.TRACK_EMAIL)
        with self._uow() as uow:
            self._require_draft(uow, caller, activity_id)
            uow.activities.delete(activity_id)
            uow.commit()

    def add_attachment(
        self, caller: Caller, activity_id: int, filename: str, content_type: str, content: bytes
    ) -> int:
        """Attach a file, within the organization's size limit and blocked extensions."""
        caller.require(Privilege.TRACK_EMAIL)
        name = " ".join(filename.replace("/", " ").replace("\\", " ").split())
        if not name:
            raise ValidationError("file: give the file a name")
        with self._uow() as uow:
            self._require_draft(uow, caller, activity_id)
            config = uow.settings.get()
            part = AttachmentPart(name, content_type, content, None, False)
            reason = blocked_reason(part, config)
            if reason is not None:
                raise ValidationError(f"{name}: {reason}")
            attachment_id = uow.compose.add_attachment(
                activity_id, Attachment(name, content_type, len(content), content=content)
            )
            uow.commit()
        return attachment_id

    def remove_attachment(self, caller: Caller, activity_id: int, attachment_id: int) -> None:
        caller.require(Privilege.TRACK_EMAIL)
        with self._uow() as uow:
            self._require_draft(uow, caller, activity_id)
            if not uow.compose.remove_attachment(activity_id, attachment_id):
                raise NotFoundError(f"no attachment {attachment_id} on email {activity_id}")
            uow.commit()

    # -- sending ---------------------------------------------------------------------------

    def send(self, caller: Caller, activity_id: int, *, key: str | None = None) -> Done:
        """Queue a draft: every byte is fixed now, so every attempt sends the same email."""
        caller.require(Privilege.TRACK_EMAIL)
        fingerprint = _fingerprint("send", activity_id)
        now = self._clock.now()
        with self._uow() as uow:
            if key is not None:
                earlier = self._remembered(uow, caller, "send", key, fingerprint)
                if earlier is not None:
                    return Done(earlier, replayed=True)
            activity = self._require_draft(uow, caller, activity_id)
            mailbox = uow.mailboxes.get(activity.mailbox_id or 0)
            assert mailbox is not None  # noqa: S101 - checked by _require_draft
            problem = why_cannot_send(mailbox)
            if problem is not None:
                raise MailboxCannotSendError(problem)
            to = recipients_of(activity.parties, ParticipationRole.TO)
            cc = recipients_of(activity.parties, ParticipationRole.CC)
            bcc = recipients_of(activity.parties, ParticipationRole.BCC)
            if not (to or cc or bcc):
                raise ValidationError("to: give at least one recipient")
            attachments = uow.compose.attachments(activity_id)
            for stored in attachments:
                if stored.attachment.is_blocked or stored.attachment.content is None:
                    raise ValidationError(
                        f"{stored.attachment.filename}: {stored.attachment.blocked_reason}"
                    )
            composition = uow.compose.composition(activity_id)
            activity.subject = subject_with_token(activity.subject, activity.tracking_token)
            email = OutgoingEmail(
                sender_name=self._owner_name(uow, mailbox),
                sender_address=mailbox.address,
                to=to,
                cc=cc,
                bcc=bcc,
                subject=activity.subject,
                body=activity.text_body or "\n",
                html_body=activity.html_body,
                message_id=activity.message_id or new_message_id(mailbox.address),
                date=now,
                in_reply_to=activity.in_reply_to,
                references=composition.references if composition else (),
                attachments=tuple(
                    OutgoingAttachment(
                        a.attachment.filename, a.attachment.content_type, a.attachment.content
                    )
                    for a in attachments
                    if a.attachment.content is not None
                ),
            )
            uow.compose.save_draft(activity)
            uow.outbox.add(
                OutboxItem(
                    activity_id,
                    mailbox.id or 0,
                    compose(email),
                    mailbox.address,
                    email.recipients,
                    OutboxPhase.QUEUED,
                ),
                now,
            )
            uow.compose.set_status(activity_id, ActivityStatus.PENDING_SEND)
            if key is not None:
                done = self._remember(uow, caller, "send", key, fingerprint, activity_id)
                if done is not None:
                    return done
            uow.commit()
        return Done(activity_id)

    def retry(self, caller: Caller, activity_id: int, *, confirmed: bool = False) -> None:
        """Queue a failed email again; one that may have reached the server only once the
        writer confirms it did not arrive (the outbox never sends twice unasked)."""
        caller.require(Privilege.TRACK_EMAIL)
        with self._uow() as uow:
            activity = self._require_email(uow, caller, activity_id)
            mailbox = uow.mailboxes.get(activity.mailbox_id or 0)
            item = uow.outbox.get(activity_id)
            if item is None or mailbox is None:
                raise ConflictError("this email was never sent: send the draft instead")
            refusal = may_retry(item.phase, item.last_error, confirmed=confirmed)
            if refusal is not None:
                raise ConflictError(refusal)
            problem = why_cannot_send(mailbox)
            if problem is not None:
                raise MailboxCannotSendError(problem)
            uow.outbox.requeue(activity_id, self._clock.now())
            uow.commit()

    # -- helpers ---------------------------------------------------------------------------

    def _require_email(self, uow: UnitOfWork, caller: Caller, activity_id: int) -> EmailActivity:
        activity = uow.activities.get(activity_id)
        if activity is None or activity.direction is not Direction.OUTGOING:
            raise NotFoundError(f"no email written in the CRM with id {activity_id}")
        mailbox = uow.mailboxes.get(activity.mailbox_id or 0)
        if mailbox is None or not may_send_from(caller, mailbox):
            # Refused as not yours only where the caller may read it; elsewhere "not found",
            # so that its existence is not told.
            readable = uow.activities.get(
                activity_id, scope=caller.reach(Privilege.READ_ACTIVITIES)
            )
            if readable is None:
                raise NotFoundError(f"no email written in the CRM with id {activity_id}")
            raise NotAuthorizedError(NOT_YOUR_MAILBOX)
        return activity

    def _require_draft(self, uow: UnitOfWork, caller: Caller, activity_id: int) -> EmailActivity:
        activity = self._require_email(uow, caller, activity_id)
        if activity.status is not ActivityStatus.DRAFT:
            status = activity.status.value.replace("_", " ")
            raise ConflictError(f"this email is no longer a draft: it is {status}")
        return activity

    def _remembered(
        self, uow: UnitOfWork, caller: Caller, operation: str, key: str, fingerprint: str
    ) -> int | None:
        assert caller.user.id is not None  # noqa: S101 - a signed-in user is stored
        found = uow.compose.remembered(caller.user.id, operation, key)
        if found is None:
            return None
        if found.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError(
                "Idempotency-Key: this key was used for a different request; "
                "use a new key for each new request"
            )
        if found.activity_id is None:
            raise NotFoundError("the email this key made was deleted since")
        return found.activity_id

    def _remember(
        self,
        uow: UnitOfWork,
        caller: Caller,
        operation: str,
        key: str,
        fingerprint: str,
        activity_id: int,
    ) -> Done | None:
        """Keep the key with what it made; if a concurrent request kept it first, undo this
        one and answer with that one's result."""
        assert caller.user.id is not None  # noqa: S101 - a signed-in user is stored
        try:
            uow.compose.remember(
                caller.user.id,
                RememberedRequest(operation, key, fingerprint, activity_id),
                self._clock.now(),
            )
        except ConflictError:
            uow.rollback()
            earlier = self._remembered(uow, caller, operation, key, fingerprint)
            if earlier is None:
                raise
            return Done(earlier, replayed=True)
        return None

    def _owner_name(self, uow: UnitOfWork, mailbox: Mailbox) -> str:
        if mailbox.owner.kind is RecordKind.USER:
            user = uow.directory.get_user(mailbox.owner.id)
            return user.full_name if user else ""
        queue = uow.directory.get_queue(mailbox.owner.id)
        return queue.name if queue else ""

    def _parties(
        self,
        uow: UnitOfWork,
        mailbox: Mailbox,
        owner_name: str,
        to: Sequence[str],
        cc: Sequence[str],
        bcc: Sequence[str],
    ) -> list[ActivityParty]:
        """Recipients as activity parties: a record named ``kind:id`` sends to its first
        address; an address is linked to the records that hold it."""
        if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
            raise ValidationError(f"to: at most {MAX_RECIPIENTS} recipients in all")
        named = [
            RecordRef.parse(e.strip())
            for e in (*to, *cc, *bcc)
            if ":" in e and "@" not in e and _parses(e.strip())
        ]
        summaries = uow.directory.summaries(named)
        resolved: list[tuple[ParticipationRole, str, str, RecordRef | None]] = []
        ref: RecordRef | None
        problems: dict[str, list[str]] = {}
        for role, entries in (
            (ParticipationRole.TO, to),
            (ParticipationRole.CC, cc),
            (ParticipationRole.BCC, bcc),
        ):
            for entry in entries:
                text = entry.strip()
                if not text:
                    continue
                if "@" not in text and _parses(text):
                    ref = RecordRef.parse(text)
                    summary = summaries.get(ref)
                    if ref.kind not in RECIPIENT_KINDS or summary is None:
                        problem = f"no contact, lead, account or user {text}"
                        problems.setdefault(role.value, []).append(problem)
                    elif not summary.emails:
                        problem = f"{summary.name} ({text}) has no address"
                        problems.setdefault(role.value, []).append(problem)
                    else:
                        resolved.append((role, summary.emails[0], summary.name, ref))
                elif is_email_address(address := normalize_address(text)):
                    if unfit := unsendable(address):
                        problems.setdefault(role.value, []).append(unfit)
                    else:
                        resolved.append((role, address, "", None))
                else:
                    problem = f"{text!r} is not an email address or KIND:ID"
                    problems.setdefault(role.value, []).append(problem)
        if problems:
            raise FieldValueError(
                {name: "; ".join(found) for name, found in problems.items()},
                "; ".join(f"{name}: {p}" for name, found in problems.items() for p in found),
            )
        matches = uow.directory.records_by_address(
            {address for _, address, _, ref in resolved if ref is None}
        )
        parties = [
            ActivityParty(ParticipationRole.FROM, mailbox.address, owner_name, mailbox.owner)
        ]
        for role, address, name, ref in resolved:
            refs: Sequence[RecordRef | None] = (
                [ref] if ref is not None else (matches.get(address) or [None])
            )
            parties += [ActivityParty(role, address, name, r) for r in refs]
        parties.append(ActivityParty(ParticipationRole.OWNER, mailbox.address, "", mailbox.owner))
        return parties

    def _check_regarding(self, uow: UnitOfWork, regarding: RecordRef | None) -> None:
        if regarding is not None and not uow.directory.exists(regarding):
            raise ValidationError(f"regarding: no record {regarding}")

    def _clean(self, body: str) -> str:
        # The writer's own images may be remote; nothing that runs survives either way.
        return self._sanitizer.clean(body, remote_images=True).html

    def _original_headers(self, uow: UnitOfWork, original: EmailActivity) -> HeaderSummary | None:
        """The headers of the email answered, as it arrived; None for one written here."""
        if original.raw_message_id is None:
            return None
        return try_parse_headers(uow.raw_messages.require(original.raw_message_id).raw)

    def _references(
        self, uow: UnitOfWork, original: EmailActivity, written: HeaderSummary | None
    ) -> tuple[str, ...]:
        """The References the original carried: from its composition, else its raw text."""
        assert original.id is not None  # noqa: S101 - stored
        composition = uow.compose.composition(original.id)
        if composition is not None:
            return composition.references
        return written.references if written is not None else ()


def _parses(text: str) -> bool:
    try:
        RecordRef.parse(text)
    except ValueError:
        return False
    return True


def _fingerprint(*parts: object) -> str:
    """A digest of a request, to tell a retry of it from another request under its key."""

    def plain(value: object) -> object:
        if isinstance(value, DraftFields):
            return {**value.__dict__, "regarding": str(value.regarding)}
        return value

    text = json.dumps([plain(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
