"""Mail a real Dovecot lists but does not hand over: tried again, never passed silently, and
never holding back the mail after it.

Dovecot's mail processes run as the ``mail`` user, so a message file made unreadable
(mode 000) is one the server lists but cannot read: it ends the connection in the middle of
the FETCH ("FETCH failed: Internal error"). A message file removed behind a session is one
the session still lists: FETCH answers ``BODY[] NIL`` for it (RFC 3501 §7.4.2).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.builders import Org, dovecot_profile, make_email
from tests.integration.sync_run import SyncRun, service_for
from tests.servers.dovecot import DovecotServer
from tidings.adapters.imap.client import ImapFolderSession
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile, ServerProfileKind
from tidings.domain.stored import ActivityFilter
from tidings.domain.sync import SyncMode

DANA = "dana@northwind.example"


def _deliver(server: DovecotServer, *subjects: str, to: str = DANA) -> None:
    for subject in subjects:
        raw = make_email(to=to, subject=subject, message_id=f"<{subject}@c.example>")
        server.deliver(to, raw)


def _message_file(server: DovecotServer, subject: str, user: str = "dana") -> Path:
    maildir = server.mail_dir / "northwind.example" / user / "Maildir"
    needle = f"Subject: {subject}\n".encode()
    for path in [*maildir.glob("cur/*"), *maildir.glob("new/*")]:
        if needle in path.read_bytes().replace(b"\r\n", b"\n"):
            return path
    raise AssertionError(f"no message file holds {subject!r}")


def _make_unreadable(server: DovecotServer, subject: str, user: str = "dana") -> None:
    # Dovecot moves a file from new/ to cur/ by renaming it: its mode goes with it.
    _message_file(server, subject, user).chmod(0)


def _subjects(org: Org) -> list[str]:
    page = org.tidings.queries.activities(ActivityFilter(limit=100))
    return sorted(activity.subject for activity in page.items)


def _alerts(org: Org, user: str = "dana") -> list[str]:
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes[user])
        assert mailbox is not None
        return [alert.text for alert in mailbox.alerts]


def _inbox(org: Org):  # type: ignore[no-untyped-def]
    [inbox] = org.tidings.queries.sync_state()[org.mailboxes["dana"]].folders
    return inbox


def test_an_email_the_server_cannot_read_is_passed_over_with_an_alert_naming_it(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Before: the folder backed off and tried the same chunk for ever, and nothing after
    # the unreadable email was ever tracked.
    org, run = sync_org
    _deliver(server, "First", "Broken", "Third", "Fourth")
    _make_unreadable(server, "Broken")
    run.start(service_for(run, withheld_tries=3))
    run.wait_for(lambda: len(run.results) == 3 and _alerts(org) != [], timeout=60)
    assert _subjects(org) == ["First", "Fourth", "Third"]
    [alert] = _alerts(org)
    assert "UID 2 in INBOX is not tracked" in alert
    assert "did not hand it over" in alert

    # The folder is not stuck: the next email is tracked as usual, and the cursor has
    # passed the one left behind.
    _deliver(server, "Later")
    run.wait_for(lambda: len(run.results) == 4, timeout=30)
    assert _subjects(org) == ["First", "Fourth", "Later", "Third"]
    run.wait_for(lambda: _inbox(org).mode is SyncMode.IDLE)
    assert _inbox(org).cursor.last_uid == 5


def test_an_email_readable_again_before_its_last_try_is_tracked_and_nothing_alerted(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # A server that cannot hand over an email for a while (Gmail's "Some messages could not
    # be FETCHed") must not lose it: the cursor waits below it meanwhile.
    org, run = sync_org
    _deliver(server, "First", "Late", "Third")
    _make_unreadable(server, "Late")
    run.start(service_for(run, withheld_tries=1000))
    run.wait_for(lambda: len(run.results) == 1, timeout=30)
    run.wait_for(lambda: _inbox(org).mode is SyncMode.BACKING_OFF, timeout=30)
    assert _inbox(org).cursor.last_uid == 1  # not past the email that did not come
    _message_file(server, "Late").chmod(0o600)  # moved from new/ to cur/ meanwhile
    run.wait_for(lambda: len(run.results) == 3, timeout=30)
    assert _subjects(org) == ["First", "Late", "Third"]
    assert _alerts(org) == []


def test_a_fetch_leaves_out_what_was_expunged_behind_the_session_and_search_tells_it_gone(
    tmp_path: Path,
) -> None:
    with DovecotServer(tmp_path / "dovecot", {DANA: "dana-pass"}) as dovecot:
        _deliver(dovecot, "One", "Two", "Three")

        async def run() -> tuple[list[int], str | None, list[int]]:
            session = await ImapFolderSession.open(
                dovecot_profile(dovecot), Credential(DANA, "dana-pass"), "INBOX"
            )
            try:
                session.status = await session.select()
                os.unlink(_message_file(dovecot, "Two"))
                fetched = await session.fetch([1, 2, 3])
                return [m.uid for m in fetched], session.fetch_refusal, await session.missing([2])
            finally:
                await session.close()

        uids, refusal, gone = asyncio.run(run())
    assert uids == [1, 3]
    assert refusal is not None and "NIL" in refusal
    assert gone == [2]


def test_a_search_the_server_refuses_is_an_error_not_every_message_gone(tmp_path: Path) -> None:
    # Before: the refusal's text was read as the search's answer, which named no UID, so
    # every UID asked about was taken for expunged and its activity for deleted.
    with DovecotServer(tmp_path / "dovecot", {DANA: "dana-pass"}) as dovecot:
        _deliver(dovecot, "One")

        async def run() -> None:
            session = await ImapFolderSession.open(
                dovecot_profile(dovecot), Credential(DANA, "dana-pass"), "INBOX"
            )
            try:
                session.status = await session.select()
                assert await session.missing([1]) == []
                # No UID is that large (RFC 3501 §2.3.1.1: 32 bits): Dovecot answers BAD.
                await session.missing([1, 2**33])
            finally:
                await session.close()

        with pytest.raises(MailServerError, match="refused the search"):
            asyncio.run(run())


def test_a_pop3_message_the_server_refuses_is_passed_over_and_the_others_taken(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Dovecot answers RETR of an unreadable message "-ERR Message 2 expunged." and the
    # session goes on. Before, the poll failed at that message, kept nothing of its chunk
    # and failed again at every poll: no email of the mailbox was tracked any more.
    org, run = sync_org
    pop3 = ServerProfile(
        name="Dovecot POP3",
        kind=ServerProfileKind.POP3_SMTP,
        incoming_host="127.0.0.1",
        incoming_port=server.pop3s_port,
        incoming_security=ConnectionSecurity.TLS,
        outgoing_host="127.0.0.1",
        options={"ca_file": str(server.ca_file)},
    )
    org.use_profile(pop3, {"sam": "sam-pass"})
    sam = "sam@northwind.example"
    _deliver(server, "Pop1", "Pop2", "Pop3", to=sam)
    _make_unreadable(server, "Pop2", "sam")
    run.start(service_for(run, withheld_tries=3))
    run.wait_for(lambda: len(run.results) == 2 and _alerts(org, "sam") != [], timeout=60)
    assert _subjects(org) == ["Pop1", "Pop3"]
    [alert] = _alerts(org, "sam")
    assert "with UIDL" in alert and "-ERR" in alert
    _deliver(server, "Pop4", to=sam)
    run.wait_for(lambda: len(run.results) == 3, timeout=30)
    assert _subjects(org) == ["Pop1", "Pop3", "Pop4"]
    assert _alerts(org, "sam") == [alert]  # passed over once: later polls leave it be
