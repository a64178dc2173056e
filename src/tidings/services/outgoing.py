"""Email written in the CRM: queued as a pending-send activity, sent through the owner's
mailbox, never twice (see ``domain.outgoing`` for the phases and what a crash leaves)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import make_msgid
from typing import Protocol

from tidings.domain.activity import (
    ActivityParty,
    ActivityStatus,
    Direction,
    EmailActivity,
    ParticipationRole,
)
from tidings.domain.correlation import format_tracking_token, subject_key
from tidings.domain.credentials import Credential
from tidings.domain.credentials import Direction as CredentialDirection
from tidings.domain.errors import MailServerError, NotFoundError, ValidationError
from tidings.domain.mailbox import Alert, AlertLevel
from tidings.domain.outgoing import (
    INTERRUPTED_AFTER_HANDOVER,
    OutboxPhase,
    OutgoingEmail,
    compose,
    subject_with_token,
)
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordKind, RecordRef, is_email_address
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.domain.stored import OutboxItem
from tidings.services import events
from tidings.services.conversations import threading_for
from tidings.services.credentials import load_credential
from tidings.services.ports import Clock, SecretBox, UnitOfWork

#: Attempts after which a transient failure becomes final.
MAX_ATTEMPTS = 10


class SentCopy(Protocol):
    """Appends sent email to the folder the server marks ``\\Sent``, else to ``folder``;
    returns the folder used."""

    async def __call__(
        self, profile: ServerProfile, credential: Credential, folder: str, raw: bytes
    ) -> str: ...


#: Where copies of sent email go when the server marks no folder ``\Sent`` (RFC 6154) and
#: the profile's ``sent_folder`` option names none.
SENT_FOLDER = "Sent"


class MailSender(Protocol):
    async def send(
        self,
        profile: ServerProfile,
        credential: Credential | None,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        before_data: Callable[[], Awaitable[None]],
    ) -> None: ...


@dataclass(frozen=True)
class SendResult:
    activity_id: int
    phase: OutboxPhase
    error: str | None = None


class OutgoingService:
    """Queues CRM email and sends the queue."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        secrets: SecretBox,
        sender: MailSender,
        clock: Clock,
        sent_copy: SentCopy | None = None,
        api_senders: Mapping[ServerProfileKind, MailSender] | None = None,
    ) -> None:
        self._uow = uow_factory
        self._secrets = secrets
        self._sender = sender
        #: Senders of the kinds that send through a mail API (Graph, Gmail, EWS), not SMTP.
        self._api_senders = dict(api_senders or {})
        self._clock = clock
        self._sent_copy = sent_copy

    def queue(
        self,
        caller: Caller,
        *,
        mailbox_id: int,
        to: Sequence[str],
        subject: str,
        body: str,
        cc: Sequence[str] = (),
        regarding: RecordRef | None = None,
        reply_to: int | None = None,
    ) -> int:
        """Record a pending-send activity with its Message-ID and token fixed for good.

        With ``reply_to`` (an activity id) the email is a reply: it joins that activity's
        conversation and carries In-Reply-To and References.
        """
        caller.require(Privilege.TRACK_EMAIL)
        addresses = [a.strip().lower() for a in (*to, *cc)]
        if not to or not all(is_email_address(a) for a in addresses):
            raise ValidationError("give at least one recipient, each a valid email address")
        now = self._clock.now()
        with self._uow() as uow:
            mailbox = uow.mailboxes.get(mailbox_id)
            if mailbox is None or mailbox.owner.kind is not RecordKind.USER:
                raise NotFoundError(f"no user mailbox with id {mailbox_id}")
            owner = uow.directory.get_user(mailbox.owner.id)
            assert owner is not None  # noqa: S101 - a mailbox's owner exists (foreign data)
            config = uow.settings.get()
            token = None
            if config.use_tracking_token:
                counter = (
                    uow.outbox_counter(owner.ref)
                    if hasattr(uow, "outbox_counter")
                    else now.microsecond
                )
                token = format_tracking_token(
                    config.tracking_token, user_number=owner.ref.id, counter=counter
                )
            message_id = make_msgid(domain=mailbox.address.partition("@")[2])
            thread = threading_for(uow, caller, message_id, reply_to)
            email = OutgoingEmail(
                sender_name=owner.full_name,
                sender_address=mailbox.address,
                to=tuple(a.strip().lower() for a in to),
                cc=tuple(a.strip().lower() for a in cc),
                subject=subject_with_token(subject, token),
                body=body,
                message_id=message_id,
                date=now,
                in_reply_to=thread.in_reply_to,
                references=thread.references,
            )
            matches = uow.directory.records_by_address(email.recipients)
            parties = [
                ActivityParty(ParticipationRole.FROM, mailbox.address, owner.full_name, owner.ref)
            ]
            for role, group in ((ParticipationRole.TO, email.to), (ParticipationRole.CC, email.cc)):
                for address in group:
                    refs: Sequence[RecordRef | None] = matches.get(address) or [None]
                    parties += [ActivityParty(role, address, "", ref) for ref in refs]
            parties.append(ActivityParty(ParticipationRole.OWNER, mailbox.address, "", owner.ref))
            activity = EmailActivity(
                owner=owner.ref,
                mailbox_id=mailbox_id,
                subject=email.subject,
                direction=Direction.OUTGOING,
                status=ActivityStatus.PENDING_SEND,
                message_id=email.message_id,
                received_at=now,
                text_body=body,
                subject_key=subject_key(email.subject, config.tracking_token),
                tracking_token=token,
                regarding=regarding,
                in_reply_to=thread.in_reply_to,
                references=thread.references,
                conversation_id=thread.conversation_id,
                correlation=thread.correlation,
                matched_activity_id=thread.matched_activity_id,
                parties=parties,
                created_at=now,
            )
            activity_id = uow.activities.add(activity, email.message_id)
            uow.outbox.add(
                OutboxItem(
                    activity_id,
                    mailbox_id,
                    compose(email),
                    mailbox.address,
                    email.recipients,
                    OutboxPhase.QUEUED,
                ),
                now,
            )
            uow.commit()
        return activity_id

    def recover(self) -> list[int]:
        """After a restart: email caught mid-handover is failed, never sent again."""
        now = self._clock.now()
        with self._uow() as uow:
            interrupted = uow.outbox.in_phase(OutboxPhase.HANDED_OVER, limit=10_000)
            for item in interrupted:
                uow.outbox.set_phase(
                    item.activity_id, OutboxPhase.FAILED, now, error=INTERRUPTED_AFTER_HANDOVER
                )
                uow.mailboxes.add_alert(
                    item.mailbox_id,
                    Alert(
                        AlertLevel.WARNING,
                        f"Email activity {item.activity_id}: {INTERRUPTED_AFTER_HANDOVER}",
                        now,
                    ),
                )
            uow.commit()
        return [item.activity_id for item in interrupted]

    async def send_pending(self) -> list[SendResult]:
        """Send every queued email once, in the order queued."""
        with self._uow() as uow:
            queued = uow.outbox.in_phase(OutboxPhase.QUEUED)
        return [await self._send(item) for item in queued]

    async def _send(self, item: OutboxItem) -> SendResult:
        profile, credential = await asyncio.to_thread(self._connection, item.mailbox_id)

        async def handed_over() -> None:
            await asyncio.to_thread(
                self._set, item.activity_id, OutboxPhase.HANDED_OVER, None, True
            )

        try:
            if profile is None:
                raise MailServerError("the mailbox has no email server profile", permanent=True)
            sender = self._api_senders.get(profile.kind, self._sender)
            await sender.send(
                profile, credential, item.envelope_from, item.recipients, item.raw, handed_over
            )
        except MailServerError as error:
            final = error.permanent or item.attempts + 1 >= MAX_ATTEMPTS
            phase = OutboxPhase.FAILED if final else OutboxPhase.QUEUED
            await asyncio.to_thread(self._set, item.activity_id, phase, str(error), False)
            return SendResult(item.activity_id, phase, str(error))
        await asyncio.to_thread(self._set, item.activity_id, OutboxPhase.SENT, None, False)
        if profile is not None:
            await self._save_copy(item, profile)
        return SendResult(item.activity_id, OutboxPhase.SENT)

    async def _save_copy(self, item: OutboxItem, profile: ServerProfile) -> None:
        """Keep a copy in the owner's Sent folder; a failure is an alert, not a resend."""
        if self._sent_copy is None or profile.options.get("save_sent_copy") == "no":
            return
        credential = await asyncio.to_thread(self._incoming_credential, item.mailbox_id, profile)
        if credential is None or profile.kind is not ServerProfileKind.IMAP_SMTP:
            return
        fallback = profile.options.get("sent_folder") or SENT_FOLDER
        try:
            await self._sent_copy(profile, credential, fallback, item.raw)
        except MailServerError as error:
            text = (
                f"Email activity {item.activity_id} was sent, but its copy in the Sent folder "
                f"was not saved: {error}"
            )
            await asyncio.to_thread(self._alert, item.mailbox_id, text)

    def _incoming_credential(self, mailbox_id: int, profile: ServerProfile) -> Credential | None:
        with self._uow() as uow:
            return load_credential(
                uow, self._secrets, profile, mailbox_id, CredentialDirection.INCOMING
            )

    def _alert(self, mailbox_id: int, text: str) -> None:
        with self._uow() as uow:
            uow.mailboxes.add_alert(mailbox_id, Alert(AlertLevel.WARNING, text, self._clock.now()))
            uow.commit()

    def _connection(self, mailbox_id: int) -> tuple[ServerProfile | None, Credential | None]:
        with self._uow() as uow:
            mailbox = uow.mailboxes.get(mailbox_id)
            if mailbox is None or mailbox.profile_id is None:
                return None, None
            profile = uow.server_profiles.get(mailbox.profile_id)
            if profile is None:
                return None, None
            credential = load_credential(
                uow, self._secrets, profile, mailbox_id, CredentialDirection.OUTGOING
            )
            return profile, credential

    def _set(
        self, activity_id: int, phase: OutboxPhase, error: str | None, attempted: bool
    ) -> None:
        with self._uow() as uow:
            uow.outbox.set_phase(
                activity_id, phase, self._clock.now(), error=error, attempted=attempted
            )
            if phase is OutboxPhase.SENT:
                events.activity_sent(uow, activity_id, self._clock.now())
            uow.commit()
