"""Email written in the CRM goes out through its owner's mailbox, once, even across a crash."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from email import message_from_bytes, message_from_string, policy
from pathlib import Path

import pytest

from tests.builders import Org, dovecot_profile
from tests.conftest import TEST_SECRET_KEY
from tests.database_locks import HeldTable, hold_writes
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import ReceivedMessage, SmtpServer
from tidings.domain.activity import ActivityStatus
from tidings.domain.errors import NotAuthorizedError
from tidings.domain.outgoing import INTERRUPTED_AFTER_HANDOVER, OutboxPhase
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile, ServerProfileKind

TIDINGS = str(Path(sys.executable).with_name("tidings"))


def _outgoing_org(org: Org, smtp: SmtpServer, password: str = "dana-pass") -> Caller:
    profile = ServerProfile(
        name="SMTP",
        kind=ServerProfileKind.IMAP_SMTP,
        incoming_host="127.0.0.1",
        outgoing_host=smtp.host,
        outgoing_port=smtp.port,
        outgoing_security=ConnectionSecurity.NONE,
        allow_insecure=True,
    )
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
        mailbox.profile_id = uow.server_profiles.add(profile)
        uow.mailboxes.save(mailbox)
        uow.commit()
    caller = Caller(org.users["dana"], frozenset(Privilege))
    org.tidings.mailboxes.set_credentials(
        caller, org.mailboxes["dana"], "dana@northwind.example", password
    )
    return caller


def _queue(org: Org, caller: Caller) -> int:
    return org.tidings.outgoing.queue(
        caller,
        mailbox_id=org.mailboxes["dana"],
        to=["maria@contoso.example"],
        cc=["tom@contoso.example"],
        subject="Quote for 500 seats",
        body="Hello Maria,\n",
        regarding=org.records["deal"],
    )


def test_a_queued_email_is_sent_once_with_its_message_id_and_tracking_token(
    org: Org, smtp_server: SmtpServer
) -> None:
    # Pending send -> sent; the Message-ID and token fixed at queueing are what goes out.
    caller = _outgoing_org(org, smtp_server)
    activity_id = _queue(org, caller)
    pending = org.tidings.queries.activity(activity_id).activity
    assert pending.status is ActivityStatus.PENDING_SEND
    assert pending.tracking_token is not None and pending.subject.endswith(pending.tracking_token)
    [result] = asyncio.run(org.tidings.outgoing.send_pending())
    assert result.phase is OutboxPhase.SENT
    assert asyncio.run(org.tidings.outgoing.send_pending()) == []
    [message] = smtp_server.wait_for(1)
    sent = message_from_bytes(message.content, policy=policy.default)
    assert (message.mail_from, message.rcpt_tos, message.login) == (
        "dana@northwind.example",
        ("maria@contoso.example", "tom@contoso.example"),
        "dana@northwind.example",
    )
    assert (sent["Message-ID"], sent["Subject"]) == (pending.message_id, pending.subject)
    activity = org.tidings.queries.activity(activity_id).activity
    assert activity.status is ActivityStatus.SENT


def test_a_refused_password_fails_the_email_with_the_reason(
    org: Org, smtp_server: SmtpServer
) -> None:
    caller = _outgoing_org(org, smtp_server, password="wrong")
    activity_id = _queue(org, caller)
    [result] = asyncio.run(org.tidings.outgoing.send_pending())
    assert (result.phase, result.error) == (
        OutboxPhase.FAILED,
        "outgoing: authentication failed: check the user name and password",
    )
    assert org.tidings.queries.activity(activity_id).activity.status is ActivityStatus.FAILED
    assert smtp_server.messages == []


# `tidings send` sends itself only on SQLite; on PostgreSQL the workers' task does
# (test_send_tasks.py), and the command only defers tasks.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_crash_after_the_server_accepted_never_sends_twice(
    org: Org, smtp_server: SmtpServer, database_url: str
) -> None:
    # The sender is frozen between the server's 250 and its own status update (the test
    # holds the outbox against writes from the moment the message arrives), then killed.
    caller = _outgoing_org(org, smtp_server)
    activity_id = _queue(org, caller)
    held: list[HeldTable] = []

    def freeze_sender(_message: ReceivedMessage) -> None:
        held.append(hold_writes(database_url, "outbox"))

    smtp_server.before_accept = freeze_sender
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "TIDINGS_PARSE_WORKERS": "0",
    }
    worker = subprocess.Popen(
        [TIDINGS, "send"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        smtp_server.wait_for(1, timeout=120)
        assert held, "the outbox was not held when the server accepted"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        for hold in held:
            hold.release()
    smtp_server.before_accept = None
    again = subprocess.run(
        [TIDINGS, "send"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert f"email activity {activity_id}: interrupted mid-handover, not resent" in again.stdout
    assert len(smtp_server.messages) == 1
    with org.tidings.uow() as uow:
        [item] = uow.outbox.in_phase(OutboxPhase.FAILED)
    assert (item.activity_id, item.last_error) == (activity_id, INTERRUPTED_AFTER_HANDOVER)


def test_a_copy_of_sent_email_lands_in_the_owners_sent_folder(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    # With an IMAP incoming server, the sent message is appended to Sent, marked read.
    profile = dovecot_profile(dovecot)
    profile.outgoing_host, profile.outgoing_port = smtp_server.host, smtp_server.port
    profile.outgoing_security, profile.allow_insecure = ConnectionSecurity.NONE, True
    org.use_profile(profile, {"dana": "dana-pass"})
    caller = Caller(org.users["dana"], frozenset(Privilege))
    activity_id = _queue(org, caller)
    [result] = asyncio.run(org.tidings.outgoing.send_pending())
    assert result.phase is OutboxPhase.SENT
    message_id = org.tidings.queries.activity(activity_id).activity.message_id
    found = dovecot.doveadm(
        "search",
        "-u",
        "dana@northwind.example",
        "mailbox",
        "Sent",
        "header",
        "Message-ID",
        message_id.strip("<>"),
        "SEEN",
    )
    assert found.strip(), "the copy is not in Sent"


def test_the_sent_copy_goes_to_the_folder_the_server_marks_sent(
    org: Org, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    # Servers name Sent after the user's language; the \Sent mark (RFC 6154) finds it.
    users = {"dana@northwind.example": "dana-pass"}
    with DovecotServer(tmp_path / "dovecot", users, sent_folder="Sent Items") as dovecot:
        profile = dovecot_profile(dovecot)
        profile.outgoing_host, profile.outgoing_port = smtp_server.host, smtp_server.port
        profile.outgoing_security, profile.allow_insecure = ConnectionSecurity.NONE, True
        org.use_profile(profile, {"dana": "dana-pass"})
        caller = Caller(org.users["dana"], frozenset(Privilege))
        activity_id = _queue(org, caller)
        [result] = asyncio.run(org.tidings.outgoing.send_pending())
        assert result.phase is OutboxPhase.SENT
        message_id = org.tidings.queries.activity(activity_id).activity.message_id
        found = dovecot.doveadm(
            "search",
            "-u",
            "dana@northwind.example",
            "mailbox",
            "Sent Items",
            "header",
            "Message-ID",
            message_id.strip("<>"),
        )
        assert found.strip(), "the copy is not in Sent Items"
        assert "Sent" not in dovecot.folders("dana@northwind.example")


def test_no_one_queues_email_from_a_mailbox_that_is_not_theirs(
    org: Org, smtp_server: SmtpServer
) -> None:
    # Sam holds every privilege, yet Dana's mailbox sends only what Dana writes.
    _outgoing_org(org, smtp_server)
    org.add_user("sam")
    sam = Caller(org.users["sam"], frozenset(Privilege))
    with pytest.raises(NotAuthorizedError, match="only from your own mailbox"):
        _queue(org, sam)
    with org.tidings.uow() as uow:
        assert uow.outbox.in_phase(OutboxPhase.QUEUED) == []


def _queue_to(org: Org, caller: Caller, *recipients: str) -> int:
    return org.tidings.outgoing.queue(
        caller,
        mailbox_id=org.mailboxes["dana"],
        to=list(recipients),
        subject="Angebot",
        body="Hallo,\n",
    )


def test_an_international_domain_is_sent_to_as_its_a_label(
    org: Org, smtp_server: SmtpServer
) -> None:
    # RFC 5890-5891: the envelope and the To header both carry the ASCII form; Python's
    # email package alone would have put encoded words in the address (RFC 2047 §5).
    caller = _outgoing_org(org, smtp_server)
    _queue_to(org, caller, "maria@bücher.example", "info@straße.de")
    [result] = asyncio.run(org.tidings.outgoing.send_pending())
    assert result.phase is OutboxPhase.SENT, result.error
    [message] = smtp_server.wait_for(1)
    assert message.rcpt_tos == ("maria@xn--bcher-kva.example", "info@xn--strae-oqa.de")
    assert "SMTPUTF8" not in message.mail_options
    sent = message_from_bytes(message.content, policy=policy.default)
    assert [a.addr_spec for a in sent["To"].addresses] == list(message.rcpt_tos)
    assert message.content.isascii()


def test_a_unicode_local_part_goes_only_to_a_server_that_offers_smtputf8(
    org: Org, smtp_server: SmtpServer
) -> None:
    caller = _outgoing_org(org, smtp_server)
    activity_id = _queue_to(org, caller, "jürgen@müller.example")
    [result] = asyncio.run(org.tidings.outgoing.send_pending())
    assert result.phase is OutboxPhase.FAILED
    assert "does not offer SMTPUTF8" in (result.error or "")
    assert "jürgen@xn--mller-kva.example" in (result.error or "")
    assert org.tidings.queries.activity(activity_id).activity.status is ActivityStatus.FAILED
    assert smtp_server.messages == []


def test_a_unicode_local_part_is_sent_with_smtputf8_where_the_server_offers_it(
    org: Org,
) -> None:
    with SmtpServer({"dana@northwind.example": "dana-pass"}, smtputf8=True) as smtp:
        caller = _outgoing_org(org, smtp)
        _queue_to(org, caller, "jürgen@müller.example", "maria@bücher.example")
        [result] = asyncio.run(org.tidings.outgoing.send_pending())
        assert result.phase is OutboxPhase.SENT, result.error
        [message] = smtp.wait_for(1)
    assert "SMTPUTF8" in message.mail_options
    assert message.rcpt_tos == ("jürgen@xn--mller-kva.example", "maria@xn--bcher-kva.example")
    sent = message_from_string(message.content.decode("utf-8"), policy=policy.SMTPUTF8)
    assert [a.addr_spec for a in sent["To"].addresses] == list(message.rcpt_tos)


def test_a_mailbox_in_an_international_domain_sends_in_ascii(
    org: Org, smtp_server: SmtpServer
) -> None:
    # Its own address, its Message-ID and the envelope sender all take the A-label form.
    caller = _outgoing_org(org, smtp_server)
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
        assert mailbox is not None
        mailbox.address = "dana@xn--mller-kva.example"
        uow.mailboxes.save(mailbox)
        uow.commit()
    activity_id = _queue_to(org, caller, "maria@contoso.example")
    [result] = asyncio.run(org.tidings.outgoing.send_pending())
    assert result.phase is OutboxPhase.SENT, result.error
    [message] = smtp_server.wait_for(1)
    assert message.mail_from == "dana@xn--mller-kva.example"
    assert message.content.isascii()
    sent = message_from_bytes(message.content, policy=policy.default)
    assert sent["From"].addresses[0].addr_spec == "dana@xn--mller-kva.example"
    assert sent["Message-ID"].endswith("@xn--mller-kva.example>")
    # Stored, the mailbox's address is in the readable form.
    activity = org.tidings.queries.activity(activity_id).activity
    assert "dana@müller.example" in {p.address for p in activity.parties}
