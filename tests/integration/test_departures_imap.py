"""Deletions and moves on a real Dovecot carried to the activity: read through QRESYNC
(``VANISHED``, pushed during IDLE or answered to ``UID FETCH … (CHANGEDSINCE n VANISHED)``)
where the server has it, and by a bounded ``UID SEARCH`` of the kept UIDs where it does not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import Org, dovecot_profile, make_email
from tests.integration.sync_run import USERS, SyncRun, org_syncing, service_for
from tests.servers.dovecot import DovecotServer
from tidings.adapters.imap.client import ImapFolderSession
from tidings.domain.credentials import Credential
from tidings.domain.people import TrackIncoming
from tidings.domain.stored import ActivityFilter
from tidings.domain.tracking import Outcome

DANA = "dana@northwind.example"
#: What Dovecot advertises without CONDSTORE and QRESYNC after login.
NO_QRESYNC = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS"
BOTH = pytest.mark.parametrize(
    "dovecot", [None, NO_QRESYNC], ids=["qresync", "uid search"], indirect=True
)


@pytest.fixture
def dovecot(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DovecotServer]:
    capability = getattr(request, "param", None)
    with DovecotServer(tmp_path / "dc", USERS, imap_capability=capability) as running:
        yield running


@pytest.fixture
def org_run(dovecot: DovecotServer, database_url: str) -> Iterator[tuple[Org, SyncRun]]:
    with org_syncing(database_url, ("dana",)) as (org, run):
        org.use_profile(dovecot_profile(dovecot), {"dana": "dana-pass"})
        yield org, run


def _held(org: Org, message_id: str) -> tuple[Outcome | None, str, int | None]:
    """Outcome, summary and activity of the copy that holds the email's activity."""
    stories = [s for s in org.tidings.explain.by_message_id(message_id) if s.activity_id]
    if len(stories) != 1:
        return None, "", None
    return stories[0].outcome, stories[0].summary, stories[0].activity_id


def _activities(org: Org) -> list[tuple[int | None, object]]:
    return [(a.id, a.regarding) for a in org.tidings.queries.activities(ActivityFilter()).items]


@BOTH
def test_an_email_moved_into_a_tracked_folder_gets_its_regarding_on_the_same_activity(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer
) -> None:
    # The halves of the move reach two folder tasks, in whatever order: one activity, the
    # folder's regarding set on it.
    org, run = org_run
    dovecot.create_folder(DANA, "Contoso")
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    dovecot.deliver(DANA, make_email(subject="Seats", message_id="<seats@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: _held(org, "<seats@c.example>")[0] is Outcome.TRACKED)
    [(activity_id, _)] = _activities(org)
    dovecot.move(DANA, dovecot.uid_of(DANA, "<seats@c.example>"), "INBOX", "Contoso")
    moved = "tracked because it was moved into the tracked folder 'Contoso'"
    # Until both halves are seen the email may be in both folders ("is in"): wait for both.
    run.wait_for(lambda: _held(org, "<seats@c.example>")[1].startswith(moved))
    assert _held(org, "<seats@c.example>")[0] is Outcome.TRACKED
    assert _activities(org) == [(activity_id, org.records["deal"])]


@BOTH
def test_an_email_moved_out_of_its_tracked_folder_is_untracked_and_its_activity_kept(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer
) -> None:
    org, run = org_run
    org.set_track_incoming("dana", TrackIncoming.NONE)
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    raw = make_email(subject="Seats", message_id="<seats@c.example>")
    dovecot.deliver(DANA, raw, folder="Contoso")
    run.start(service_for(run))
    run.wait_for(lambda: _held(org, "<seats@c.example>")[0] is Outcome.TRACKED)
    [(activity_id, _)] = _activities(org)
    dovecot.move(DANA, dovecot.uid_of(DANA, "<seats@c.example>", "Contoso"), "Contoso", "INBOX")
    run.wait_for(lambda: _held(org, "<seats@c.example>")[0] is Outcome.NOT_TRACKED)
    assert _held(org, "<seats@c.example>") == (
        Outcome.NOT_TRACKED,
        "not tracked: untracked because it was moved out of the tracked folder 'Contoso'",
        activity_id,
    )
    assert _activities(org) == [(activity_id, org.records["deal"])]


@BOTH
def test_a_deleted_email_keeps_its_activity_and_its_explanation_says_so(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer
) -> None:
    org, run = org_run
    dovecot.deliver(DANA, make_email(subject="Seats", message_id="<seats@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: _held(org, "<seats@c.example>")[0] is Outcome.TRACKED)
    [(activity_id, _)] = _activities(org)
    uid = dovecot.uid_of(DANA, "<seats@c.example>")
    dovecot.doveadm("expunge", "-u", DANA, "mailbox", "INBOX", "uid", str(uid))
    run.wait_for(lambda: "no longer in" in _held(org, "<seats@c.example>")[1])
    assert _held(org, "<seats@c.example>") == (
        Outcome.TRACKED,
        "tracked; no longer in the mailbox's synced folders (deleted, or moved to a folder "
        "Tidings does not sync): the activity is kept as it was",
        activity_id,
    )
    assert _activities(org) == [(activity_id, None)]


@BOTH
def test_an_email_deleted_while_sync_was_away_is_found_gone_when_it_comes_back(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer
) -> None:
    # With QRESYNC: the VANISHED (EARLIER) answer to UID FETCH … (CHANGEDSINCE n VANISHED);
    # without: the kept UID no longer found by UID SEARCH.
    org, run = org_run
    dovecot.deliver(DANA, make_email(subject="Seats", message_id="<seats@c.example>"))
    dovecot.deliver(DANA, make_email(subject="Stays", message_id="<stays@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 2)
    run.stop()
    uid = dovecot.uid_of(DANA, "<seats@c.example>")
    dovecot.doveadm("expunge", "-u", DANA, "mailbox", "INBOX", "uid", str(uid))
    again = SyncRun(org.tidings)
    again.start(service_for(again))
    again.wait_for(lambda: "no longer in" in _held(org, "<seats@c.example>")[1])
    again.stop()
    assert _held(org, "<stays@c.example>")[1] == "tracked"


@BOTH
def test_the_session_finds_what_vanished_by_qresync_or_by_search(dovecot: DovecotServer) -> None:
    # QRESYNC is enabled only where offered; either way only UIDs really gone are reported.
    for n in range(3):
        dovecot.deliver(DANA, make_email(subject=f"n{n}", message_id=f"<n{n}@c.example>"))

    async def look() -> tuple[bool, list[int], list[int]]:
        credential = Credential(DANA, "dana-pass")
        session = await ImapFolderSession.open(dovecot_profile(dovecot), credential, "INBOX")
        try:
            modseq = session.status.highest_modseq or 0
            dovecot.doveadm("expunge", "-u", DANA, "mailbox", "INBOX", "uid", "2")
            if session.supports_qresync:
                gone = await session.vanished_since(modseq, 3)
            else:
                gone = await session.missing([1, 2, 3])
            return session.supports_qresync, gone, await session.missing([1, 3])
        finally:
            await session.close()

    qresync, gone, still = asyncio.run(look())
    assert qresync is (dovecot.imap_capability is None)
    assert (gone, still) == ([2], [])


def test_once_asked_the_session_hears_of_each_later_expunge_from_the_server(
    dovecot: DovecotServer,
) -> None:
    # After the first UID FETCH … VANISHED of a SELECT, the server tells the session of
    # every expunge as it happens (RFC 7162 §3.2.10): the later rounds ask nothing.
    for n in range(3):
        dovecot.deliver(DANA, make_email(subject=f"n{n}", message_id=f"<n{n}@c.example>"))

    async def look() -> tuple[list[int], list[int], list[int]]:
        credential = Credential(DANA, "dana-pass")
        session = await ImapFolderSession.open(dovecot_profile(dovecot), credential, "INBOX")
        try:
            modseq = session.status.highest_modseq or 0
            first = await session.vanished_since(modseq, 3)
            await asyncio.to_thread(
                dovecot.doveadm, "expunge", "-u", DANA, "mailbox", "INBOX", "uid", "2"
            )
            assert await session.wait_for_change(timeout=5)  # told at the NOOP, as news
            later = await session.vanished_since(modseq, 3)
            return first, later, await session.vanished_since(modseq, 3)
        finally:
            await session.close()

    assert asyncio.run(look()) == ([], [2], [])
