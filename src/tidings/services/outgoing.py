"""Email written in the CRM: queued as a pending-send activity, sent through the owner's
mailbox, never twice (see ``domain.outgoing`` for the phases and what a crash leaves)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tidings.domain.activity import (
    ActivityParty,
    ActivityStatus,
    Direction,
    EmailActivity,
    ParticipationRole,
)
from tidings.domain.compose import NOT_YOUR_MAILBOX, may_send_from
from tidings.domain.correlation import format_tracking_token, subject_key
from tidings.domain.credentials import Credential
from tidings.domain.credentials import Direction as CredentialDirection
from tidings.domain.error_text import brief
from tidings.domain.errors import (
    MailServerError,
    NotAuthorizedError,
    NotFoundError,
    ThrottledError,
    ValidationError,
)
from tidings.domain.mailbox import Alert, AlertLevel
from tidings.domain.outgoing import (
    INTERRUPTED_AFTER_HANDOVER,
    MessageRefusedError,
    OutboxPhase,
    OutgoingEmail,
    SentCopyState,
    compose,
    new_message_id,
    subject_with_token,
)
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordKind, RecordRef, is_email_address, normalize_address
from tidings.domain.retry import Backoff, RetryLater
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.domain.stored import OutboxItem
from tidings.services import events
from tidings.services.conversations import threading_for
from tidings.services.credentials import load_credential
from tidings.services.ports import Clock, SecretBox, UnitOfWork

log = logging.getLogger(__name__)

#: How often the worker looks for queued email.
SEND_INTERVAL_SECONDS = 2.0
#: Attempts after which a transient failure becomes final.
MAX_ATTEMPTS = 10
#: Tries at saving a sent email's copy in the Sent folder before an alert says it is missing.
MAX_COPY_ATTEMPTS = 5
#: Outbox items read at a time.
PAGE = 100
#: How long an email taken for sending stays with the worker that took it before it goes
#: back in the queue; longer than any send lasts (each SMTP step has its own timeout).
SENDING_LEASE = timedelta(minutes=10)


def _definitely_refused(error: MailServerError) -> bool:
    """Whether the server answered no (so nothing was delivered), rather than going quiet."""
    return isinstance(error, MessageRefusedError | ThrottledError) or error.permanent


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
        *,
        page_size: int = PAGE,
        max_copy_attempts: int = MAX_COPY_ATTEMPTS,
        sending_lease: timedelta = SENDING_LEASE,
        max_attempts: int = MAX_ATTEMPTS,
        backoff: Backoff | None = None,
    ) -> None:
        self._uow = uow_factory
        self.max_attempts = max_attempts
        #: The waits between tries of one email where each is a task (PostgreSQL).
        self.backoff = backoff or Backoff()
        self._sending_lease = sending_lease
        self._page_size = page_size
        self._max_copy_attempts = max_copy_attempts
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
        addresses = [normalize_address(a) for a in (*to, *cc)]
        if not to or not all(is_email_address(a) for a in addresses):
            raise ValidationError("give at least one recipient, each a valid email address")
        now = self._clock.now()
        with self._uow() as uow:
            mailbox = uow.mailboxes.get(mailbox_id)
            if mailbox is None or mailbox.owner.kind is not RecordKind.USER:
                raise NotFoundError(f"no user mailbox with id {mailbox_id}")
            if not may_send_from(caller, mailbox):
                raise NotAuthorizedError(NOT_YOUR_MAILBOX)
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
            message_id = new_message_id(mailbox.address)
            thread = threading_for(uow, caller, message_id, reply_to)
            email = OutgoingEmail(
                sender_name=owner.full_name,
                sender_address=mailbox.address,
                to=tuple(normalize_address(a) for a in to),
                cc=tuple(normalize_address(a) for a in cc),
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
        self._requeue_stalled()
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

    async def run(self, stop: asyncio.Event, interval: float = SEND_INTERVAL_SECONDS) -> None:
        """Send queued email every ``interval`` seconds until ``stop``. A round that fails
        for any reason (storage, a bug) is logged and the next one goes on: sending never
        stops for good while the worker runs."""
        while not stop.is_set():
            try:
                await self.send_pending(stop)
            except Exception as error:  # the loop must outlive any one round
                # In one line: an error's whole text may quote a statement and its parameters.
                log.error("sending stopped this round; trying again: %s", brief(error))
                log.debug("where sending stopped", exc_info=error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def send_pending(self, stop: asyncio.Event | None = None) -> list[SendResult]:
        """Send every queued email once, in the order queued, until the queue is empty.

        Pages are read past the last email seen, so one that failed and went back to the
        queue waits for the next round instead of being tried again and again in this one;
        email queued meanwhile is sent in this round. Then missing Sent-folder copies are
        saved. Once ``stop`` is set no further email is taken (the one being handed over
        finishes), so a worker asked to stop does so at once, whatever the queue holds.
        """
        self._requeue_stalled()
        results: list[SendResult] = []
        after = 0
        while stop is None or not stop.is_set():
            with self._uow() as uow:
                page = uow.outbox.in_phase(OutboxPhase.QUEUED, limit=self._page_size, after=after)
            if not page:
                break
            for item in page:
                if stop is not None and stop.is_set():
                    return results
                if await asyncio.to_thread(self._claim, item.activity_id):
                    results.append(await self._send(item))
            after = page[-1].activity_id
        if stop is None or not stop.is_set():
            await self.save_missing_copies()
        return results

    async def save_missing_copies(self) -> list[int]:
        """Save the Sent-folder copies a crash or a failure left unsaved; the ids saved."""
        saved: list[int] = []
        after = 0
        while True:
            with self._uow() as uow:
                page = uow.outbox.copies_pending(limit=self._page_size, after=after)
            if not page:
                return saved
            for item in page:
                profile, _ = await asyncio.to_thread(self._connection, item.mailbox_id)
                if profile is not None and await self._save_copy(item, profile):
                    saved.append(item.activity_id)
            after = page[-1].activity_id

    # -- As tasks (PostgreSQL) ----------------------------------------------------------

    async def send_one(self, activity_id: int) -> SendResult | None:
        """Send one queued email: the body of its ``send_email`` task. Run again for the
        same email it does no harm, whatever an earlier run left:

        - sent, failed or gone: nothing to do;
        - handed over: the run that handed it over died before recording the server's
          answer (only one run of an email's task runs at a time): failed as
          interrupted, never sent again, as ``recover`` does;
        - taken by a send still within its lease: tried again once the lease is over;
        - a transient failure: recorded, then ``RetryLater`` with the back-off's wait; the
          last allowed attempt fails the email with the error and an alert.
        """
        await asyncio.to_thread(self._requeue_stalled)
        item = await asyncio.to_thread(self._item, activity_id)
        if item is None or item.phase in (OutboxPhase.SENT, OutboxPhase.FAILED):
            return None
        if item.phase is OutboxPhase.HANDED_OVER:
            await asyncio.to_thread(self._fail, item, INTERRUPTED_AFTER_HANDOVER)
            return SendResult(activity_id, OutboxPhase.FAILED, INTERRUPTED_AFTER_HANDOVER)
        if not await asyncio.to_thread(self._claim, activity_id):
            raise RetryLater(
                "another send of this email is under way", self._sending_lease.total_seconds()
            )
        result = await self._send(item)
        if result.phase is OutboxPhase.QUEUED:
            raise RetryLater(result.error or "not sent", self.backoff.delay(item.attempts + 1))
        return result

    async def give_up(self, activity_id: int, reason: str) -> None:
        """The email's task failed for the last time: the email fails with ``reason`` (or
        as interrupted, if it was handed over) and its owner is alerted; never sent."""
        item = await asyncio.to_thread(self._item, activity_id)
        if item is None or item.phase in (OutboxPhase.SENT, OutboxPhase.FAILED):
            return
        if item.phase is OutboxPhase.HANDED_OVER:
            reason = INTERRUPTED_AFTER_HANDOVER
        await asyncio.to_thread(self._fail, item, reason)

    async def sweep(self, defer: Callable[[Collection[int]], Awaitable[int]]) -> int:
        """Every so often, by one worker: email whose send stalled goes back in the queue,
        each unfinished email without a waiting or running task gets one (``defer``; it
        was lost with a crash or deleted by hand), and missing Sent-folder copies are
        saved. How many tasks were deferred."""
        deferred = await self.defer_missing(defer)
        await self.save_missing_copies()
        return deferred

    async def defer_missing(self, defer: Callable[[Collection[int]], Awaitable[int]]) -> int:
        """Where workers send (PostgreSQL), what may be done beside them at any time: email
        whose send stalled past its lease goes back in the queue, and each unfinished email
        without a waiting or running task gets one (``defer``). Nothing is failed, unlike
        ``recover``: an email handed over may be a live worker's send. How many tasks."""
        await asyncio.to_thread(self._requeue_stalled)
        deferred = await defer(await asyncio.to_thread(self._unfinished))
        if deferred:
            log.info("deferred %d send task(s) that had gone missing", deferred)
        return deferred

    def _item(self, activity_id: int) -> OutboxItem | None:
        with self._uow() as uow:
            return uow.outbox.get(activity_id)

    def _unfinished(self) -> list[int]:
        with self._uow() as uow:
            return uow.outbox.unfinished()

    def _fail(self, item: OutboxItem, reason: str, *, attempted: bool = False) -> None:
        """The email fails and its owner is alerted, in one transaction: neither is ever
        seen, or left by a crash, without the other."""
        alert = _failure_alert(item, reason, self._clock.now())
        self._set(
            item.activity_id, OutboxPhase.FAILED, reason, attempted, alert=(item.mailbox_id, alert)
        )

    def _requeue_stalled(self) -> None:
        """Email a worker took but never handed over (it stopped before reaching the
        server) goes back in the queue once the lease has run out; until then it may be
        another worker's send in progress."""
        now = self._clock.now()
        with self._uow() as uow:
            uow.outbox.requeue_stalled(now - self._sending_lease, now)
            uow.commit()

    def _claim(self, activity_id: int) -> bool:
        with self._uow() as uow:
            taken = uow.outbox.claim(activity_id, self._clock.now())
            uow.commit()
        return taken

    async def _send(self, item: OutboxItem) -> SendResult:
        profile, credential = await asyncio.to_thread(self._connection, item.mailbox_id)
        handed = False

        async def handed_over() -> None:
            nonlocal handed
            await asyncio.to_thread(
                self._set, item.activity_id, OutboxPhase.HANDED_OVER, None, True
            )
            handed = True

        try:
            if profile is None:
                raise MailServerError("the mailbox has no email server profile", permanent=True)
            sender = self._api_senders.get(profile.kind, self._sender)
            await sender.send(
                profile, credential, item.envelope_from, item.recipients, item.raw, handed_over
            )
        except MailServerError as error:
            reason = str(error)
            if handed and not _definitely_refused(error):
                # The text may have reached the server: never send it again unasked.
                phase, reason = OutboxPhase.FAILED, INTERRUPTED_AFTER_HANDOVER
            elif error.permanent or item.attempts + 1 >= self.max_attempts:
                phase = OutboxPhase.FAILED
            else:
                phase = OutboxPhase.QUEUED
            if phase is OutboxPhase.FAILED:
                await asyncio.to_thread(self._fail, item, reason, attempted=not handed)
            else:
                await asyncio.to_thread(self._set, item.activity_id, phase, reason, not handed)
            return SendResult(item.activity_id, phase, reason)
        keeps_copy = profile is not None and self._keeps_copy(profile)
        copy = SentCopyState.PENDING if keeps_copy else SentCopyState.NOT_NEEDED
        await asyncio.to_thread(self._set, item.activity_id, OutboxPhase.SENT, None, False, copy)
        if keeps_copy and profile is not None:
            await self._save_copy(item, profile)
        return SendResult(item.activity_id, OutboxPhase.SENT)

    def _keeps_copy(self, profile: ServerProfile) -> bool:
        """Copies are appended over IMAP; the mail APIs keep their own in Sent Items."""
        return (
            self._sent_copy is not None
            and profile.options.get("save_sent_copy") != "no"
            and profile.kind is ServerProfileKind.IMAP_SMTP
        )

    async def _save_copy(self, item: OutboxItem, profile: ServerProfile) -> bool:
        """Keep a copy in the owner's Sent folder; a failure is tried again by the next
        round, and after ``max_copy_attempts`` becomes an alert, never a resend."""
        if self._sent_copy is None or not self._keeps_copy(profile):
            await asyncio.to_thread(self._copy_state, item, SentCopyState.NOT_NEEDED, False)
            return False
        credential = await asyncio.to_thread(self._incoming_credential, item.mailbox_id, profile)
        fallback = profile.options.get("sent_folder") or SENT_FOLDER
        try:
            if credential is None:
                raise MailServerError("the mailbox has no incoming credentials", permanent=True)
            await self._sent_copy(profile, credential, fallback, item.raw)
        except MailServerError as error:
            if item.copy_attempts + 1 < self._max_copy_attempts:
                await asyncio.to_thread(self._copy_state, item, SentCopyState.PENDING, True)
                return False
            text = (
                f"Email activity {item.activity_id} was sent, but its copy in the Sent folder "
                f"is missing: it could not be saved after {self._max_copy_attempts} tries: {error}"
            )
            await asyncio.to_thread(self._copy_state, item, SentCopyState.MISSING, True, alert=text)
            return False
        await asyncio.to_thread(self._copy_state, item, SentCopyState.SAVED, True)
        return True

    def _copy_state(
        self, item: OutboxItem, state: SentCopyState, attempted: bool, *, alert: str | None = None
    ) -> None:
        """The Sent-folder copy's state, and the owner's alert if any, in one transaction."""
        with self._uow() as uow:
            uow.outbox.set_sent_copy(item.activity_id, state, attempted=attempted)
            if alert is not None:
                uow.mailboxes.add_alert(
                    item.mailbox_id, Alert(AlertLevel.WARNING, alert, self._clock.now())
                )
            uow.commit()

    def _incoming_credential(self, mailbox_id: int, profile: ServerProfile) -> Credential | None:
        with self._uow() as uow:
            return load_credential(
                uow, self._secrets, profile, mailbox_id, CredentialDirection.INCOMING
            )

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
        self,
        activity_id: int,
        phase: OutboxPhase,
        error: str | None,
        attempted: bool,
        sent_copy: SentCopyState | None = None,
        *,
        alert: tuple[int, Alert] | None = None,
    ) -> None:
        """The email's phase, with ``alert`` (mailbox id, alert) if any, in one transaction."""
        with self._uow() as uow:
            uow.outbox.set_phase(
                activity_id,
                phase,
                self._clock.now(),
                error=error,
                attempted=attempted,
                sent_copy=sent_copy,
            )
            if alert is not None:
                uow.mailboxes.add_alert(*alert)
            if phase is OutboxPhase.SENT:
                events.activity_sent(uow, activity_id, self._clock.now())
            uow.commit()


def _failure_alert(item: OutboxItem, reason: str, now: datetime) -> Alert:
    """What the mailbox owner is told of an email that failed, in words they can act on."""
    recipients = ", ".join(item.recipients[:5]) + (" …" if len(item.recipients) > 5 else "")
    text = f"Email activity {item.activity_id} to {recipients} was not sent: {reason}"
    return Alert(AlertLevel.ERROR, text, now)
