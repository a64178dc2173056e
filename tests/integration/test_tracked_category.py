"""The "Tracked" category against a real Dovecot: Tidings writes its keyword once onto what
it tracks, and a person who sets or removes the keyword tracks or untracks the email, read
through CONDSTORE where the server has it and by re-reading flags where it does not."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.builders import Org, dovecot_profile, make_email
from tests.integration.sync_run import USERS, SyncRun, org_syncing, service_for
from tests.servers.dovecot import DovecotServer
from tests.waiting import wait_until
from tidings.adapters.imap.client import ImapFolderSession
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.people import Caller, Privilege, TrackIncoming
from tidings.domain.server_profile import ServerProfile
from tidings.domain.tracked_category import CategoryMark, FlagState
from tidings.domain.tracking import Outcome
from tidings.services.sync import flags as flag_rounds
from tidings.services.sync.model import FolderSession

DANA = "dana@northwind.example"
KEYWORD = "Tracked_to_Tidings"
#: What Dovecot advertises without CONDSTORE (or QRESYNC) after login.
NO_CONDSTORE = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS"


def _until(condition: Callable[[], bool], timeout: float = 20) -> None:
    """Wait for a state outside Tidings (the mail server's) to hold."""
    wait_until(condition, timeout, "the mail server's state")


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


def _flags(dovecot: DovecotServer, uid: int) -> set[str]:
    """A message's flags, less \\Recent (which says which session saw it first)."""
    return dovecot.flags(DANA, uid) - {"\\Recent"}


def _outcomes(run: SyncRun) -> list[Outcome]:
    return [r.outcome for r in run.results]


def _explain(org: Org, message_id: str) -> tuple[Outcome | None, str, int | None]:
    [found] = org.tidings.explain.by_message_id(message_id)
    return found.outcome, found.summary, found.activity_id


def test_tidings_writes_its_keyword_once_onto_what_it_tracks_and_touches_no_other_flag(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer
) -> None:
    org, run = org_run
    dovecot.deliver(DANA, make_email(subject="Quote", message_id="<q@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: _outcomes(run) == [Outcome.TRACKED])
    _until(lambda: KEYWORD in dovecot.flags(DANA, 1))
    assert _flags(dovecot, 1) == {KEYWORD}  # not \Seen: still unread
    with org.tidings.uow() as uow:
        [raw_id] = uow.raw_messages.ids_by_message_id("<q@c.example>")
        written = uow.category_marks.marks([raw_id])[raw_id]
    assert written.present and written.written_at is not None
    # More mail and a person's own flag bring more rounds; the keyword is not written again.
    dovecot.change_flags(DANA, 1, "\\Flagged")
    dovecot.deliver(DANA, make_email(subject="Later", message_id="<l@c.example>"))
    run.wait_for(lambda: len(run.results) == 2)
    _until(lambda: KEYWORD in dovecot.flags(DANA, 2))
    run.stop()
    with org.tidings.uow() as uow:
        again = uow.category_marks.marks([raw_id])[raw_id]
        assert (again.present, again.written_at) == (True, written.written_at)
        assert uow.category_marks.to_write(org.mailboxes["dana"], "INBOX", 0, 10) == []
    assert _flags(dovecot, 1) == {"\\Flagged", KEYWORD}
    [inbox] = org.tidings.queries.sync_state()[org.mailboxes["dana"]].folders
    assert inbox.cursor is not None and inbox.cursor.highest_modseq is not None


@pytest.mark.parametrize(
    "dovecot", [None, NO_CONDSTORE], ids=["condstore", "flags re-read"], indirect=True
)
def test_an_email_read_as_its_category_is_written_keeps_its_read_state(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer
) -> None:
    # The round after the one that wrote the keyword reads that write back, and passes over
    # it as known; read meanwhile, the email is no longer what was written, and is kept so.
    org, run = org_run
    dovecot.deliver(DANA, make_email(subject="Read", message_id="<r@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: _outcomes(run) == [Outcome.TRACKED])
    with org.tidings.uow() as uow:
        [raw_id] = uow.raw_messages.ids_by_message_id("<r@c.example>")

    def mark() -> CategoryMark | None:
        with org.tidings.uow() as uow:
            return uow.category_marks.marks([raw_id]).get(raw_id)

    _until(lambda: (m := mark()) is not None and m.written_at is not None)
    written = mark()
    assert written is not None and written.seen is False
    dovecot.change_flags(DANA, 1, "\\Seen")
    dovecot.deliver(DANA, make_email(subject="Next", message_id="<n@c.example>"))
    run.wait_for(lambda: len(_outcomes(run)) == 2)
    _until(lambda: (m := mark()) is not None and m.seen is True)
    run.stop()
    after = mark()
    assert after is not None and (after.present, after.written_at) == (True, written.written_at)
    assert _explain(org, "<r@c.example>")[0] is Outcome.TRACKED


def _one_not_tracked(org: Org, run: SyncRun, dovecot: DovecotServer, **service: object) -> None:
    """Start syncing Dana's Inbox with one email her option did not track ("By hand", UID 1),
    and wait for it to be decided."""
    org.set_track_incoming("dana", TrackIncoming.NONE)
    dovecot.deliver(DANA, make_email(subject="By hand", message_id="<h@c.example>"))
    run.start(service_for(run, **service))
    run.wait_for(lambda: _outcomes(run) == [Outcome.NOT_TRACKED])


@pytest.mark.parametrize("look_seconds", [0.0, 3600.0])
def test_email_tracked_by_hand_gets_the_category_at_the_first_whole_look_after(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer, look_seconds: float
) -> None:
    # Rounds between whole looks at the folder look at their own new mail only: email
    # tracked another way (the add-in, the console) waits for the next whole look.
    org, run = org_run
    _one_not_tracked(org, run, dovecot, category_look_seconds=look_seconds)
    # A second email's round starts once the first round, and its whole look, ended.
    dovecot.deliver(DANA, make_email(subject="Other", message_id="<o@c.example>"))
    run.wait_for(lambda: _outcomes(run) == [Outcome.NOT_TRACKED] * 2)
    admin = Caller(org.users["dana"], frozenset(Privilege))
    org.tidings.manual_tracking.track_message_id(admin, "<h@c.example>")
    org.set_track_incoming("dana", TrackIncoming.ALL)
    dovecot.deliver(DANA, make_email(subject="Pushed", message_id="<p@c.example>"))
    run.wait_for(lambda: _outcomes(run)[2:] == [Outcome.TRACKED])
    _until(lambda: KEYWORD in dovecot.flags(DANA, 3))
    run.stop()
    # Written in the same round as the pushed email's, or not yet.
    assert (KEYWORD in dovecot.flags(DANA, 1)) is (look_seconds == 0.0)
    assert KEYWORD not in dovecot.flags(DANA, 2)


@pytest.mark.parametrize(
    "dovecot", [None, NO_CONDSTORE], ids=["condstore", "flags re-read"], indirect=True
)
@pytest.mark.parametrize("look_seconds", [0.0, 3600.0])
def test_an_email_read_brings_no_whole_look_at_the_folder_before_its_time(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer, look_seconds: float
) -> None:
    # Reading an email changes its flags, and a round reads the change (or, without
    # CONDSTORE, every flag again); a whole look at a folder reads each of its emails (ten
    # thousand, for one read), so a read brings none before its time. What the round looks
    # at is its own changes and new mail.
    org, run = org_run
    # Without CONDSTORE a round reads again the flags of the newest message only: the one
    # tracked by hand is then older than any round reads, as in a large folder.
    _one_not_tracked(org, run, dovecot, category_look_seconds=look_seconds, flag_rescan_limit=1)
    org.set_track_incoming("dana", TrackIncoming.ALL)
    dovecot.deliver(DANA, make_email(subject="Read", message_id="<r@c.example>"))
    run.wait_for(lambda: _outcomes(run)[1:] == [Outcome.TRACKED])
    _until(lambda: KEYWORD in dovecot.flags(DANA, 2))
    with org.tidings.uow() as uow:
        [read_id] = uow.raw_messages.ids_by_message_id("<r@c.example>")

    def seen() -> bool | None:
        with org.tidings.uow() as uow:
            mark = uow.category_marks.marks([read_id]).get(read_id)
        return None if mark is None or mark.written_at is None else mark.seen

    _until(lambda: seen() is False)
    admin = Caller(org.users["dana"], frozenset(Privilege))
    org.tidings.manual_tracking.track_message_id(admin, "<h@c.example>")
    dovecot.change_flags(DANA, 2, "\\Seen")
    run.wait_for(lambda: seen() is True)
    # The next round (a pushed email's) shows the read's round has ended.
    dovecot.deliver(DANA, make_email(subject="After", message_id="<a@c.example>"))
    run.wait_for(lambda: _outcomes(run)[2:] == [Outcome.TRACKED])
    _until(lambda: KEYWORD in dovecot.flags(DANA, 3))
    run.stop()
    assert (KEYWORD in dovecot.flags(DANA, 1)) is (look_seconds == 0.0)


def test_setting_the_keyword_tracks_and_removing_it_untracks_keeping_the_activity(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer
) -> None:
    org, run = org_run
    org.set_track_incoming("dana", TrackIncoming.NONE)
    dovecot.deliver(DANA, make_email(subject="Pricing", message_id="<p@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: _outcomes(run) == [Outcome.NOT_TRACKED])

    dovecot.change_flags(DANA, 1, KEYWORD)
    run.wait_for(lambda: _outcomes(run)[1:] == [Outcome.TRACKED])
    outcome, summary, activity_id = _explain(org, "<p@c.example>")
    assert outcome is Outcome.TRACKED and activity_id is not None
    assert summary == "tracked because you marked it with the category 'Tracked to Tidings'"

    dovecot.change_flags(DANA, 1, KEYWORD, add=False)
    run.wait_for(lambda: _outcomes(run)[2:] == [Outcome.NOT_TRACKED])
    outcome, summary, kept = _explain(org, "<p@c.example>")
    assert outcome is Outcome.NOT_TRACKED
    assert summary == "not tracked: untracked because the category 'Tracked to Tidings' was removed"
    assert kept == activity_id
    assert org.tidings.queries.activity(activity_id).activity.subject == "Pricing"

    # Marked again: the same activity is tracked again, not a second one.
    dovecot.change_flags(DANA, 1, KEYWORD)
    run.wait_for(lambda: _outcomes(run)[3:] == [Outcome.TRACKED])
    run.stop()
    assert _explain(org, "<p@c.example>")[::2] == (Outcome.TRACKED, activity_id)
    assert _flags(dovecot, 1) == {KEYWORD}  # Tidings never set \Seen
    [inbox] = org.tidings.queries.sync_state()[org.mailboxes["dana"]].folders
    assert inbox.cursor is not None
    assert (inbox.cursor.highest_modseq is None) == (dovecot.imap_capability is not None)


def test_mail_marked_before_tidings_first_saw_it_is_tracked(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer
) -> None:
    org, run = org_run
    org.set_track_incoming("dana", TrackIncoming.NONE)
    dovecot.deliver(DANA, make_email(subject="Marked", message_id="<m@c.example>"))
    dovecot.deliver(DANA, make_email(subject="Unmarked", message_id="<u@c.example>"))
    dovecot.change_flags(DANA, 1, KEYWORD)
    run.start(service_for(run))
    run.wait_for(lambda: Outcome.TRACKED in _outcomes(run))
    run.stop()
    assert _explain(org, "<m@c.example>")[0] is Outcome.TRACKED
    assert _explain(org, "<u@c.example>")[0] is Outcome.NOT_TRACKED


@pytest.mark.parametrize("option", [TrackIncoming.NONE, TrackIncoming.ALL])
def test_a_folder_whose_emails_arrive_marked_tracks_each_once_by_what_decided_it(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer, option: TrackIncoming
) -> None:
    # A mailbox that carried the category before Tidings synced it (another product wrote
    # it, or a database restored from backup): one flag round finds every email marked.
    org, run = org_run
    org.set_track_incoming("dana", option)
    marked = [f"<marked-{n}@c.example>" for n in range(5)]
    for uid, message_id in enumerate(marked, start=1):
        dovecot.deliver(DANA, make_email(subject=f"Marked {uid}", message_id=message_id))
        dovecot.change_flags(DANA, uid, KEYWORD)
    dovecot.deliver(DANA, make_email(subject="Unmarked", message_id="<plain@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: _outcomes(run).count(Outcome.TRACKED) >= len(marked))
    run.stop()
    found = [_explain(org, message_id) for message_id in marked]
    assert {outcome for outcome, _, _ in found} == {Outcome.TRACKED}
    assert len({activity for _, _, activity in found}) == len(marked)
    by_mark = "tracked because you marked it with the category 'Tracked to Tidings'"
    if option is TrackIncoming.NONE:
        assert {summary for _, summary, _ in found} == {by_mark}
        assert _explain(org, "<plain@c.example>")[0] is Outcome.NOT_TRACKED
    else:  # tracked by the rules already: the mark changes nothing, and makes no second one
        assert by_mark not in {summary for _, summary, _ in found}
        assert _explain(org, "<plain@c.example>")[0] is Outcome.TRACKED
    assert _outcomes(run).count(Outcome.TRACKED) == len(marked) + (option is TrackIncoming.ALL)


async def _open_keeping_no_keywords(
    profile: ServerProfile, credential: Credential, folder: str
) -> FolderSession:
    # Dovecot keeps keywords in every folder; a server that does not leaves ``\*`` and the
    # keyword out of PERMANENTFLAGS (RFC 3501 §7.1), which is what this session reports.
    session = await ImapFolderSession.open(profile, credential, folder)
    session.permanent_flags = frozenset({"\\Seen", "\\Answered", "\\Flagged", "\\Deleted"})
    return session


def test_a_folder_that_keeps_no_keywords_is_never_written_but_still_read(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer
) -> None:
    org, run = org_run
    dovecot.deliver(DANA, make_email(subject="Tracked", message_id="<t@c.example>"))
    run.start(service_for(run, opener=_open_keeping_no_keywords))
    run.wait_for(lambda: _outcomes(run) == [Outcome.TRACKED])
    # A person's keyword, then its removal, still untracks: the round ran and read it.
    dovecot.change_flags(DANA, 1, KEYWORD)
    dovecot.change_flags(DANA, 1, "\\Flagged")
    _until(lambda: _mark_present(org, "<t@c.example>"))
    dovecot.change_flags(DANA, 1, KEYWORD, add=False)
    run.wait_for(lambda: _outcomes(run)[1:] == [Outcome.NOT_TRACKED])
    run.stop()
    with org.tidings.uow() as uow:
        [raw_id] = uow.raw_messages.ids_by_message_id("<t@c.example>")
        assert uow.category_marks.marks([raw_id])[raw_id].written_at is None


def _mark_present(org: Org, message_id: str) -> bool:
    with org.tidings.uow() as uow:
        [raw_id] = uow.raw_messages.ids_by_message_id(message_id)
        mark = uow.category_marks.marks([raw_id]).get(raw_id)
    return mark is not None and mark.present


def test_turned_off_the_category_is_neither_written_nor_read(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer
) -> None:
    org, run = org_run
    org.configure(use_tracked_category=False)
    org.set_track_incoming("dana", TrackIncoming.NONE)
    dovecot.deliver(DANA, make_email(subject="Marked", message_id="<m@c.example>"))
    dovecot.change_flags(DANA, 1, KEYWORD)
    run.start(service_for(run))
    run.wait_for(lambda: _outcomes(run) == [Outcome.NOT_TRACKED])
    dovecot.deliver(DANA, make_email(subject="Second", message_id="<s@c.example>"))
    run.wait_for(lambda: len(run.results) == 2)
    run.stop()
    assert _explain(org, "<m@c.example>")[0] is Outcome.NOT_TRACKED
    assert _flags(dovecot, 2) == set()


def test_a_flag_change_the_server_reports_inside_another_answer_still_wakes_the_wait(
    dovecot: DovecotServer,
) -> None:
    # Dovecot tells of a change made by another client at the end of whatever command comes
    # next, as a FETCH without a UID (RFC 3501 §7.4.2), and never repeats it: not at NOOP,
    # not at IDLE. Seen inside a SEARCH here; inside ``UID FETCH … (CHANGEDSINCE n)`` (whose
    # own answer may predate the change) it was the only word of a person's mark.
    dovecot.deliver(DANA, make_email(subject="Marked", message_id="<k@c.example>"))
    credential = Credential(DANA, "dana-pass")

    async def look() -> tuple[list[int], bool]:
        session = await ImapFolderSession.open(dovecot_profile(dovecot), credential, "INBOX")
        try:
            await asyncio.to_thread(dovecot.change_flags, DANA, 1, KEYWORD)
            uids = await session.uids_after(0)
            return uids, await session.wait_for_change(timeout=2)
        finally:
            await session.close()

    assert asyncio.run(look()) == ([1], True)


def test_flags_read_again_are_those_of_the_newest_messages(dovecot: DovecotServer) -> None:
    # Without CONDSTORE a round reads again the flags of the folder's newest messages, named
    # by their numbers from the last, which an expunge shifts and new mail extends: not by
    # their UIDs, which would take a search of the whole folder's each round.
    for n in range(1, 6):
        dovecot.deliver(DANA, make_email(subject=f"E{n}", message_id=f"<e{n}@c.example>"))
    dovecot.change_flags(DANA, 4, "\\Seen")
    dovecot.doveadm("expunge", "-u", DANA, "mailbox", "INBOX", "uid", "2")
    credential = Credential(DANA, "dana-pass")

    searches: list[tuple[object, ...]] = []

    async def read() -> list[list[tuple[int, bool]]]:
        session = await ImapFolderSession.open(dovecot_profile(dovecot), credential, "INBOX")
        search = session._client.uid_search

        def counted(*criteria: str, charset: str | None = None) -> Awaitable[object]:
            searches.append(criteria)
            return search(*criteria, charset=charset)

        session._client.uid_search = counted  # type: ignore[method-assign,assignment]

        async def newest(limit: int) -> list[tuple[int, bool]]:
            states = await session.recent_flags(limit)
            return [(s.uid, "\\Seen" in s.flags) for s in states]

        try:
            seen = [await newest(3), await newest(10)]
            await asyncio.to_thread(
                dovecot.deliver, DANA, make_email(subject="E6", message_id="<e6@c.example>")
            )
            await session.wait_for_change(timeout=5)  # the server tells of it: EXISTS
            return [*seen, await newest(2)]
        finally:
            await session.close()

    assert asyncio.run(read()) == [
        [(3, False), (4, True), (5, False)],
        [(1, False), (3, False), (4, True), (5, False)],
        [(5, False), (6, False)],
    ]
    assert searches == []


def test_the_flag_rounds_own_answers_do_not_wake_the_wait(dovecot: DovecotServer) -> None:
    # A flag round reads FLAGS with UID FETCH, an asynchronous command to aioimaplib. Had its
    # answers counted as a change made elsewhere, every round that read a flag would be
    # followed by another that read it again: three rounds per pushed email, not one.
    dovecot.deliver(DANA, make_email(subject="Marked", message_id="<own@c.example>"))
    dovecot.change_flags(DANA, 1, KEYWORD)
    credential = Credential(DANA, "dana-pass")

    async def look() -> tuple[set[str], bool, bool]:
        session = await ImapFolderSession.open(dovecot_profile(dovecot), credential, "INBOX")
        try:
            states = await session.flags_since(0)
            changed_after_read = await session.wait_for_change(timeout=1)
            # A mark made elsewhere after that is still news.
            await asyncio.to_thread(dovecot.change_flags, DANA, 1, "\\Flagged")
            return set(states[0].flags), changed_after_read, await session.wait_for_change(5)
        finally:
            await session.close()

    flags, changed_after_read, changed_elsewhere = asyncio.run(look())
    assert KEYWORD in flags
    assert (changed_after_read, changed_elsewhere) == (False, True)


def test_a_mark_made_while_sync_was_away_is_read_even_if_the_first_look_fails(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer
) -> None:
    # On reconnecting, the catch-up stores SELECT's HIGHESTMODSEQ before flags are read; a
    # connection lost in between must not skip the changes made while sync was away.
    org, run = org_run
    org.set_track_incoming("dana", TrackIncoming.NONE)
    dovecot.deliver(DANA, make_email(subject="Away", message_id="<aw@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: _outcomes(run) == [Outcome.NOT_TRACKED])
    run.stop()
    dovecot.change_flags(DANA, 1, KEYWORD)
    failures = [MailServerError("the connection was lost", permanent=False)]

    async def failing_once(
        profile: ServerProfile, credential: Credential, folder: str
    ) -> FolderSession:
        session = await ImapFolderSession.open(profile, credential, folder)
        read = session.flags_since

        async def flags_since(modseq: int) -> list[FlagState]:
            if failures:
                raise failures.pop()
            return await read(modseq)

        session.flags_since = flags_since  # type: ignore[method-assign]
        return session

    again = SyncRun(run.tidings)
    again.start(service_for(again, opener=failing_once))
    again.wait_for(lambda: Outcome.TRACKED in _outcomes(again))
    again.stop()
    assert failures == []
    assert _explain(org, "<aw@c.example>")[0] is Outcome.TRACKED


def test_a_first_sync_writes_the_category_on_all_it_tracked_a_limit_at_a_time(
    org_run: tuple[Org, SyncRun], dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A round writes the category on at most WRITE_LIMIT emails (2 here); a round that
    # reached it goes on at once rather than waiting for news or the read-back.
    monkeypatch.setattr(flag_rounds, "WRITE_LIMIT", 2)
    _org, run = org_run
    for n in range(5):
        dovecot.deliver(DANA, make_email(subject=f"Q{n}", message_id=f"<q{n}@c.example>"))
    run.start(service_for(run, read_back_seconds=3600))
    run.wait_for(lambda: len(run.results) == 5)
    _until(lambda: all(KEYWORD in dovecot.flags(DANA, uid) for uid in range(1, 6)))
    run.stop()
