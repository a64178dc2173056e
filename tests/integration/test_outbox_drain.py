"""Every queued email goes out, and every sent email gets its Sent-folder copy: the outbox is
drained page after page without one failing email holding up the rest, "sending" shows while
the server takes an email, and a copy that could not be saved is saved later or reported
missing, never silently absent."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from datetime import timedelta

import pytest

from tests.builders import Org
from tests.compose_helpers import SAM, add_sending_user, in_sent
from tests.conftest import TEST_SECRET_KEY
from tests.e2e.processes import TIDINGS
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import ReceivedMessage, SmtpServer
from tests.waiting import wait_until
from tidings.adapters.imap.sent import save_sent_copy
from tidings.adapters.smtp_sender import SmtpSender
from tidings.domain.activity import ActivityStatus
from tidings.domain.mailbox import AlertLevel
from tidings.domain.outgoing import OutboxPhase, SentCopyState
from tidings.domain.people import Caller, Privilege
from tidings.services.outgoing import OutgoingService


def _outgoing(
    org: Org,
    *,
    page_size: int = 100,
    max_copy_attempts: int = 5,
    sending_lease: timedelta = timedelta(minutes=10),
) -> OutgoingService:
    """The sending service as bootstrap builds it, with a small page, few copy tries or a
    short lease."""
    return OutgoingService(
        org.tidings.uow,
        org.tidings.secrets,
        SmtpSender(),
        org.tidings.clock,
        save_sent_copy,
        page_size=page_size,
        max_copy_attempts=max_copy_attempts,
        sending_lease=sending_lease,
    )


def _queue(org: Org, to: str, subject: str) -> int:
    caller = Caller(org.users["sam"], frozenset(Privilege))
    return org.tidings.outgoing.queue(
        caller, mailbox_id=org.mailboxes["sam"], to=[to], subject=subject, body="Hello\n"
    )


def _status(org: Org, activity_id: int) -> ActivityStatus:
    return org.tidings.queries.activity(activity_id).activity.status


def test_one_round_sends_every_queued_email_page_after_page(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    add_sending_user(org, smtp_server, dovecot)
    ids = [_queue(org, "maria@contoso.example", f"Quote {n}") for n in range(5)]
    results = asyncio.run(_outgoing(org, page_size=2).send_pending())
    assert [r.activity_id for r in results] == ids
    assert {r.phase for r in results} == {OutboxPhase.SENT}
    assert len(smtp_server.wait_for(5)) == 5
    assert {_status(org, i) for i in ids} == {ActivityStatus.SENT}


def test_an_email_the_server_defers_waits_for_the_next_round_without_holding_up_the_rest(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    add_sending_user(org, smtp_server, dovecot)
    smtp_server.deferred_recipients = {"busy@contoso.example"}
    deferred = _queue(org, "busy@contoso.example", "Deferred")
    others = [_queue(org, "maria@contoso.example", f"Quote {n}") for n in range(3)]
    outgoing = _outgoing(org, page_size=1)
    results = asyncio.run(outgoing.send_pending())
    # Tried once this round, back in the queue; everything queued after it went out.
    assert [(r.activity_id, r.phase) for r in results] == [
        (deferred, OutboxPhase.QUEUED),
        *[(i, OutboxPhase.SENT) for i in others],
    ]
    assert _status(org, deferred) is ActivityStatus.PENDING_SEND
    smtp_server.deferred_recipients = set()
    [again] = asyncio.run(outgoing.send_pending())
    assert (again.activity_id, again.phase) == (deferred, OutboxPhase.SENT)
    with org.tidings.uow() as uow:
        item = uow.outbox.get(deferred)
    assert item is not None and item.attempts == 2


def test_sending_shows_while_the_server_takes_the_email(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    add_sending_user(org, smtp_server, dovecot)
    activity_id = _queue(org, "maria@contoso.example", "Watch me")
    seen: list[ActivityStatus] = []

    def look(_message: ReceivedMessage) -> None:
        seen.append(_status(org, activity_id))

    smtp_server.before_accept = look
    asyncio.run(org.tidings.outgoing.send_pending())
    assert seen == [ActivityStatus.SENDING]
    assert _status(org, activity_id) is ActivityStatus.SENT


def test_an_email_a_stopped_worker_had_taken_is_sent_once_its_lease_runs_out(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    # Taken (SENDING) but never handed over: nothing reached the server. Within the lease it
    # may be another worker's send in progress, so it is left alone; after it, it goes out.
    add_sending_user(org, smtp_server, dovecot)
    activity_id = _queue(org, "maria@contoso.example", "Taken, then the worker stopped")
    with org.tidings.uow() as uow:
        assert uow.outbox.claim(activity_id, org.tidings.clock.now())
        uow.commit()
    assert asyncio.run(_outgoing(org).send_pending()) == []
    assert _status(org, activity_id) is ActivityStatus.SENDING
    [result] = asyncio.run(_outgoing(org, sending_lease=timedelta(0)).send_pending())
    assert (result.activity_id, result.phase) == (activity_id, OutboxPhase.SENT)
    assert len(smtp_server.wait_for(1)) == 1


def test_a_sent_copy_that_failed_once_is_saved_by_a_later_round(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    # The IMAP server refuses the copy (the password changed under it) right after the SMTP
    # server accepted the email: the state a crash between the two leaves behind.
    add_sending_user(org, smtp_server, dovecot)
    activity_id = _queue(org, "maria@contoso.example", "Copy later")
    message_id = org.tidings.queries.activity(activity_id).activity.message_id
    assert message_id is not None
    dovecot.set_password(SAM[0], "changed-meanwhile")
    try:
        [result] = asyncio.run(org.tidings.outgoing.send_pending())
    finally:
        dovecot.set_password(SAM[0], "sam-pass")
    assert result.phase is OutboxPhase.SENT
    with org.tidings.uow() as uow:
        item = uow.outbox.get(activity_id)
    assert item is not None and item.sent_copy == SentCopyState.PENDING
    assert not in_sent(dovecot, message_id)
    assert asyncio.run(org.tidings.outgoing.send_pending()) == []
    assert in_sent(dovecot, message_id)
    with org.tidings.uow() as uow:
        item = uow.outbox.get(activity_id)
    assert item is not None and item.sent_copy == SentCopyState.SAVED
    assert len(smtp_server.wait_for(1)) == 1


def test_a_sent_copy_that_cannot_be_saved_is_reported_missing_on_the_mailbox(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    add_sending_user(org, smtp_server, dovecot)
    activity_id = _queue(org, "maria@contoso.example", "Never copied")
    outgoing = _outgoing(org, max_copy_attempts=2)
    dovecot.set_password(SAM[0], "changed-for-good")
    try:
        asyncio.run(outgoing.send_pending())
        asyncio.run(outgoing.send_pending())
    finally:
        dovecot.set_password(SAM[0], "sam-pass")
    with org.tidings.uow() as uow:
        item = uow.outbox.get(activity_id)
        mailbox = uow.mailboxes.get(org.mailboxes["sam"])
    assert item is not None and item.sent_copy == SentCopyState.MISSING
    assert mailbox is not None
    [alert] = [a for a in mailbox.alerts if "Sent folder" in a.text]
    assert alert.level is AlertLevel.WARNING
    assert f"Email activity {activity_id} was sent" in alert.text and "missing" in alert.text
    assert _status(org, activity_id) is ActivityStatus.SENT


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_process_killed_between_sending_and_the_sent_copy_leaves_the_copy_to_a_later_run(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer, database_url: str
) -> None:
    # The IMAP side answers nothing (a listener that never speaks), so the sender is caught
    # right after the SMTP server accepted the email and SENT was committed; it is killed
    # there. The next run, with Dovecot reachable again, saves the copy.
    add_sending_user(org, smtp_server, dovecot)
    activity_id = _queue(org, "maria@contoso.example", "Killed before the copy")
    message_id = org.tidings.queries.activity(activity_id).activity.message_id
    assert message_id is not None
    silent = socket.create_server(("127.0.0.1", 0))
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["sam"])
        assert mailbox is not None and mailbox.profile_id is not None
        profile = uow.server_profiles.get(mailbox.profile_id)
        assert profile is not None
        real_port = profile.incoming_port
        profile.incoming_port = silent.getsockname()[1]
        uow.server_profiles.save(profile)
        uow.commit()
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "TIDINGS_PARSE_WORKERS": "0",
    }
    sender = subprocess.Popen([TIDINGS, "send"], env=env, stdout=subprocess.DEVNULL)
    try:

        def past_smtp() -> bool:
            assert sender.poll() is None, "the sender ended before the copy step"
            return _copy_state(org, activity_id) == SentCopyState.PENDING

        wait_until(past_smtp, 60, "the sender getting past SMTP")
        sender.send_signal(signal.SIGKILL)
        sender.wait(timeout=30)
    finally:
        if sender.poll() is None:
            sender.kill()
        silent.close()
    assert not in_sent(dovecot, message_id)
    with org.tidings.uow() as uow:
        profile.incoming_port = real_port
        uow.server_profiles.save(profile)
        uow.commit()
    subprocess.run([TIDINGS, "send"], env=env, capture_output=True, timeout=120, check=True)
    assert _copy_state(org, activity_id) == SentCopyState.SAVED
    assert in_sent(dovecot, message_id)
    assert len(smtp_server.messages) == 1


def _copy_state(org: Org, activity_id: int) -> str | None:
    with org.tidings.uow() as uow:
        item = uow.outbox.get(activity_id)
    return item.sent_copy if item else None


def test_a_round_that_fails_for_another_reason_does_not_stop_sending(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    # Storage refusing a round (a locked database, a bug) is logged; the worker's next round
    # sends what is queued instead of sending nothing ever again.
    add_sending_user(org, smtp_server, dovecot)
    activity_id = _queue(org, "maria@contoso.example", "After a bad round")
    failures = [RuntimeError("database is locked")]
    real_uow = org.tidings.uow

    def failing_once():  # type: ignore[no-untyped-def]
        if failures:
            raise failures.pop()
        return real_uow()

    service = OutgoingService(
        failing_once, org.tidings.secrets, SmtpSender(), org.tidings.clock, save_sent_copy
    )

    async def run_until_sent() -> None:
        stop = asyncio.Event()
        running = asyncio.ensure_future(service.run(stop, interval=0.05))
        sent = lambda: running.done() or _status(org, activity_id) is ActivityStatus.SENT  # noqa: E731
        await asyncio.to_thread(wait_until, sent, 60, "the email sent")
        assert not running.done(), running  # the failing round did not end the loop
        stop.set()
        await running

    asyncio.run(asyncio.wait_for(run_until_sent(), 60))
    assert failures == []
    assert len(smtp_server.wait_for(1)) == 1


def test_a_stop_asked_for_mid_round_ends_the_round_after_the_email_in_hand(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    # SIGTERM during a long queue: the email being handed over finishes, the rest wait for
    # the next worker, queued and untouched.
    add_sending_user(org, smtp_server, dovecot)
    ids = [_queue(org, "maria@contoso.example", f"Quote {n}") for n in range(3)]
    service = _outgoing(org)
    stop = asyncio.Event()
    handed = service._send

    async def send_then_stop(item):  # type: ignore[no-untyped-def]
        result = await handed(item)
        stop.set()  # as the signal handler does
        return result

    service._send = send_then_stop  # type: ignore[method-assign]
    results = asyncio.run(service.send_pending(stop))
    assert [r.activity_id for r in results] == ids[:1]
    assert len(smtp_server.wait_for(1)) == 1
    assert [_status(org, i) for i in ids] == [
        ActivityStatus.SENT,
        ActivityStatus.PENDING_SEND,
        ActivityStatus.PENDING_SEND,
    ]
