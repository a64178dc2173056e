"""What every mail source owes, checked the same way for each: IMAP and POP3 against a real
Dovecot, Microsoft Graph, Exchange Web Services and Gmail against their contract fakes.

New mail becomes one activity; a folder rule applies; a lost cursor re-syncs without
duplicates; throttling waits; bad credentials alert and do not enable; outgoing sends once;
the tracked category set tracks (before the first sync too), removed untracks, and Tidings
writes its own once; an email the server will not hand over is tried again, then passed over
with an alert, and never holds back the mail after it; an email moved into a tracked folder takes its regarding, one moved out
of it is untracked, one deleted keeps its activity.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.builders import Org, make_email
from tests.conformance.source import CategorySource, MailSource, MovingSource
from tests.conformance.sources import SOURCES
from tests.integration.sync_run import SyncRun, org_syncing, service_for
from tests.waiting import wait_until
from tidings.domain.activity import ActivityStatus
from tidings.domain.correlation import CorrelationMethod
from tidings.domain.mailbox import AlertLevel
from tidings.domain.outgoing import OutboxPhase
from tidings.domain.people import Caller, Privilege, TrackIncoming
from tidings.domain.tracking import Outcome
from tidings.services.queries import ActivityFilter

DANA = "dana@northwind.example"


@pytest.fixture(params=sorted(SOURCES))
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MailSource]:
    with SOURCES[request.param](tmp_path / "source") as running:
        yield running


@pytest.fixture
def org_run(source: MailSource, database_url: str) -> Iterator[tuple[Org, SyncRun]]:
    with org_syncing(database_url, ("dana",)) as (org, run):
        source.connect(org, ["dana"])
        yield org, run


def _subjects(org: Org) -> list[str]:
    return sorted(a.subject for a in org.tidings.queries.activities(ActivityFilter()).items)


def _admin(org: Org) -> Caller:
    return Caller(org.users["dana"], frozenset(Privilege))


def test_new_mail_becomes_one_activity(source: MailSource, org_run: tuple[Org, SyncRun]) -> None:
    org, run = org_run
    source.deliver(DANA, make_email(subject="First", message_id="<first@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    # Mail that arrives while sync waits is found too (pushed or polled).
    source.deliver(DANA, make_email(subject="Second", message_id="<second@c.example>"))
    run.wait_for(lambda: len(run.results) == 2)
    run.stop()
    assert _subjects(org) == ["First", "Second"]
    [first] = [
        a for a in org.tidings.queries.activities(ActivityFilter()).items if a.subject == "First"
    ]
    detail = org.tidings.queries.activity(first.id)
    assert detail.activity.message_id == "<first@c.example>"
    parties = {(p.address, p.party) for p in detail.activity.parties}
    assert ("maria@contoso.example", org.records["maria"]) in parties


def test_a_folder_rule_applies(source: MailSource, org_run: tuple[Org, SyncRun]) -> None:
    if not source.has_folders:
        pytest.skip(f"{source.name} has only an Inbox")
    org, run = org_run
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    source.deliver(DANA, make_email(subject="Deal", message_id="<deal@c.example>"), "Contoso")
    source.deliver(DANA, make_email(subject="Private", message_id="<p@c.example>"), "Private")
    source.deliver(DANA, make_email(subject="Inbox", message_id="<i@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 2)
    run.stop()
    assert _subjects(org) == ["Deal", "Inbox"]
    [deal] = [
        a for a in org.tidings.queries.activities(ActivityFilter()).items if a.subject == "Deal"
    ]
    assert (deal.regarding, deal.correlation) == (
        org.records["deal"],
        CorrelationMethod.FOLDER_RULE,
    )


def test_a_tracked_folder_missing_on_the_server_is_said_once_and_disables_nothing(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    # A person deleted or renamed a tracked folder. Before: Exchange Server disabled the
    # whole mailbox within seconds (three "permanent" failures), Inbox included; the other
    # sources retried without a word to the admin.
    if not source.has_folders:
        pytest.skip(f"{source.name} has only an Inbox")
    org, run = org_run
    org.add_folder_rule("dana", "Projects")
    source.deliver(DANA, make_email(subject="Inbox", message_id="<i@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    run.wait_for(lambda: _alerts(org) != [])
    source.deliver(DANA, make_email(subject="Second", message_id="<i2@c.example>"))
    run.wait_for(lambda: len(run.results) == 2)
    [(level, text)] = _alerts(org)
    assert level is AlertLevel.WARNING
    assert text.startswith("The folder Projects is not synced")
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
    assert mailbox is not None and mailbox.enabled
    # The folder comes (back): its email is tracked.
    source.deliver(DANA, make_email(subject="Plan", message_id="<plan@c.example>"), "Projects")
    run.wait_for(lambda: len(run.results) == 3, timeout=30)
    run.stop()
    assert _subjects(org) == ["Inbox", "Plan", "Second"]
    assert len(_alerts(org)) == 1


def test_a_lost_cursor_resyncs_without_duplicates(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    org, run = org_run
    source.deliver(DANA, make_email(subject="Before", message_id="<before@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    run.stop()
    source.lose_cursors()
    source.deliver(DANA, make_email(subject="After", message_id="<after@c.example>"))
    again = SyncRun(run.tidings)
    again.start(service_for(again))
    again.wait_for(lambda: any(r.outcome is Outcome.TRACKED for r in again.results))
    again.stop()
    assert _subjects(org) == ["After", "Before"]


def test_throttling_waits_and_loses_nothing(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    if not source.can_throttle:
        pytest.skip(f"{source.name} servers cannot ask a client to slow down")
    org, run = org_run
    source.deliver(DANA, make_email(subject="Busy day", message_id="<busy@c.example>"))
    source.throttle(3)
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    run.stop()
    assert _subjects(org) == ["Busy day"]
    assert run.alerts == []
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
    assert mailbox is not None and mailbox.enabled and mailbox.alerts == []


def _alerts(org: Org) -> list[tuple[AlertLevel, str]]:
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
        assert mailbox is not None
        return [(alert.level, alert.text) for alert in mailbox.alerts]


def _last_error(org: Org) -> str | None:
    [inbox] = org.tidings.queries.sync_state()[org.mailboxes["dana"]].folders
    return inbox.state.last_error if inbox.state is not None else None


def test_an_email_the_server_will_not_hand_over_is_passed_over_with_an_alert(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    # Before: IMAP stalled at it for ever (Dovecot ends the connection), POP3 stopped each
    # poll at it, Exchange dropped it without a word, Graph and Gmail failed every round.
    org, run = org_run
    for subject in ("First", "Broken", "Third"):
        source.deliver(DANA, make_email(subject=subject, message_id=f"<{subject}@c.example>"))
    source.withhold(DANA, "<Broken@c.example>", True)
    run.start(service_for(run, withheld_tries=3))
    run.wait_for(lambda: len(run.results) == 2 and _alerts(org) != [], timeout=60)
    assert _subjects(org) == ["First", "Third"]
    [(level, text)] = _alerts(org)
    assert level is AlertLevel.WARNING
    assert "in INBOX is not tracked: the server did not hand it over" in text
    # Nothing waits behind it: the next email is tracked, and the one passed over stays so.
    source.deliver(DANA, make_email(subject="Later", message_id="<later@c.example>"))
    run.wait_for(lambda: len(run.results) == 3, timeout=30)
    run.stop()
    assert _subjects(org) == ["First", "Later", "Third"]
    assert len(_alerts(org)) == 1


def test_an_email_handed_over_again_before_its_last_try_is_tracked(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    # Gmail's "Some messages could not be FETCHed" often clears within minutes: the email
    # is tried again, not lost, and nothing is alerted.
    org, run = org_run
    for subject in ("First", "Late"):
        source.deliver(DANA, make_email(subject=subject, message_id=f"<{subject}@c.example>"))
    source.withhold(DANA, "<Late@c.example>", True)
    run.start(service_for(run, withheld_tries=1000))
    run.wait_for(lambda: len(run.results) == 1)
    run.wait_for(lambda: _last_error(org) is not None)  # a try failed: the folder waits
    source.withhold(DANA, "<Late@c.example>", False)
    run.wait_for(lambda: len(run.results) == 2, timeout=30)
    run.stop()
    assert _subjects(org) == ["First", "Late"]
    assert _alerts(org) == []


def test_bad_credentials_alert_and_do_not_enable(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    org, _ = org_run
    source.break_credentials(org, "dana")
    [report] = asyncio.run(
        org.tidings.mailboxes.test_and_enable(_admin(org), [org.mailboxes["dana"]])
    )
    assert not report.enabled
    assert report.incoming.message  # says what to fix, in the admin's words
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
    assert mailbox is not None and not mailbox.enabled
    assert [a.level for a in mailbox.alerts if a.text == report.incoming.message] == [
        AlertLevel.ERROR
    ]


def test_bad_credentials_during_sync_raise_an_alert(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    org, run = org_run
    source.break_credentials(org, "dana")
    run.start(service_for(run, max_permanent_failures=1))
    run.wait_for(lambda: len(run.alerts) == 1)
    run.stop()
    [alert] = run.alerts
    assert alert.disabled and alert.target.address == DANA
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
    assert mailbox is not None and not mailbox.enabled


def test_outgoing_email_is_sent_once(source: MailSource, org_run: tuple[Org, SyncRun]) -> None:
    org, _ = org_run
    activity_id = org.tidings.outgoing.queue(
        _admin(org),
        mailbox_id=org.mailboxes["dana"],
        to=["maria@contoso.example"],
        cc=[],
        subject="Quote for 500 seats",
        body="Hello Maria,\n",
        regarding=org.records["deal"],
    )
    [result] = asyncio.run(org.tidings.outgoing.send_pending())
    assert result.phase is OutboxPhase.SENT, result.error
    assert asyncio.run(org.tidings.outgoing.send_pending()) == []
    pending = org.tidings.queries.activity(activity_id).activity
    assert pending.status is ActivityStatus.SENT
    [raw] = source.sent(DANA)
    sent = message_from_bytes(raw, policy=policy.default)
    assert (sent["Message-ID"], sent["Subject"]) == (pending.message_id, pending.subject)


def _categories(source: MailSource) -> CategorySource:
    if not getattr(source, "has_categories", False):
        reason = "POP3 has no flags" if source.name == "pop3" else "no categories yet"
        pytest.skip(f"{source.name}: {reason}")
    return source  # type: ignore[return-value]


def _outcome(org: Org, message_id: str) -> Outcome | None:
    [found] = org.tidings.explain.by_message_id(message_id)
    return found.outcome


def test_the_tracked_category_set_tracks_and_removed_untracks(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    categories = _categories(source)
    org, run = org_run
    org.set_track_incoming("dana", TrackIncoming.NONE)
    category = org.tidings.email_settings.get(_admin(org)).tracked_category
    source.deliver(DANA, make_email(subject="Marked later", message_id="<ml@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: [r.outcome for r in run.results] == [Outcome.NOT_TRACKED])
    # A busy machine may report a round that saw no change before the one that did: wait
    # for the outcome the mark leads to, not for an exact count of rounds.
    categories.set_category(DANA, "<ml@c.example>", category, True)
    run.wait_for(lambda: Outcome.TRACKED in [r.outcome for r in run.results][1:])
    marked = len(run.results)
    categories.set_category(DANA, "<ml@c.example>", category, False)
    run.wait_for(lambda: Outcome.NOT_TRACKED in [r.outcome for r in run.results][marked:])
    run.stop()
    assert _outcome(org, "<ml@c.example>") is Outcome.NOT_TRACKED
    assert _subjects(org) == ["Marked later"]  # the activity stays


def test_mail_marked_before_the_first_sync_is_tracked(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    # The first sync lists the folder (Gmail's listing names no labels, IMAP's SEARCH no
    # flags): the mark must still be read, from wherever the source tells it.
    categories = _categories(source)
    org, run = org_run
    org.set_track_incoming("dana", TrackIncoming.NONE)
    category = org.tidings.email_settings.get(_admin(org)).tracked_category
    source.deliver(DANA, make_email(subject="Marked early", message_id="<me@c.example>"))
    source.deliver(DANA, make_email(subject="Not marked", message_id="<nm@c.example>"))
    categories.set_category(DANA, "<me@c.example>", category, True)
    run.start(service_for(run))
    run.wait_for(lambda: Outcome.TRACKED in [r.outcome for r in run.results])
    run.stop()
    assert _outcome(org, "<me@c.example>") is Outcome.TRACKED
    assert _outcome(org, "<nm@c.example>") is Outcome.NOT_TRACKED
    assert _subjects(org) == ["Marked early"]


def test_tidings_writes_its_category_once_onto_what_it_tracks(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    categories = _categories(source)
    org, run = org_run
    category = org.tidings.email_settings.get(_admin(org)).tracked_category
    source.deliver(DANA, make_email(subject="Tracked", message_id="<tr@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    stored = categories.stored_category(category)
    _until(lambda: categories.categories(DANA, "<tr@c.example>") == {stored})
    with org.tidings.uow() as uow:
        [raw_id] = uow.raw_messages.ids_by_message_id("<tr@c.example>")

    def recorded() -> bool:
        # The write is recorded once the server has taken it: a moment after it shows.
        with org.tidings.uow() as uow:
            return raw_id in uow.category_marks.marks([raw_id])

    _until(recorded)
    with org.tidings.uow() as uow:
        written = uow.category_marks.marks([raw_id])[raw_id]
    # Another round (new mail) writes nothing more.
    source.deliver(DANA, make_email(subject="Next", message_id="<nx@c.example>"))
    run.wait_for(lambda: len(run.results) == 2)
    _until(lambda: categories.categories(DANA, "<nx@c.example>") == {stored})
    run.stop()
    with org.tidings.uow() as uow:
        again = uow.category_marks.marks([raw_id])[raw_id]
        assert (again.present, again.written_at) == (True, written.written_at)
    assert written.written_at is not None
    assert categories.categories(DANA, "<tr@c.example>") == {stored}


def _until(condition: Callable[[], bool], timeout: float = 20) -> None:
    """Wait for the mail system's own state to hold."""
    wait_until(condition, timeout, "the mail system's state")


def _moving(source: MailSource) -> MovingSource:
    if not source.has_folders:
        pytest.skip(f"{source.name} has only an Inbox")
    return source  # type: ignore[return-value]


def _held(org: Org, message_id: str) -> tuple[Outcome | None, str, int | None]:
    """Outcome, summary and activity of the copy that holds the email's activity."""
    stories = [s for s in org.tidings.explain.by_message_id(message_id) if s.activity_id]
    if len(stories) != 1:
        return None, "", None
    return stories[0].outcome, stories[0].summary, stories[0].activity_id


def _regardings(org: Org) -> list[tuple[int | None, object]]:
    return [(a.id, a.regarding) for a in org.tidings.queries.activities(ActivityFilter()).items]


def test_a_move_into_a_tracked_folder_sets_its_regarding_on_the_same_activity(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    moving = _moving(source)
    org, run = org_run
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    # The folder exists before sync starts, as a tracked folder does.
    source.deliver(DANA, make_email(subject="Other", message_id="<o@c.example>"), "Contoso")
    source.deliver(DANA, make_email(subject="Seats", message_id="<seats@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: _held(org, "<seats@c.example>")[0] is Outcome.TRACKED)
    activity_id = _held(org, "<seats@c.example>")[2]
    moving.move(DANA, "<seats@c.example>", "INBOX", "Contoso")
    moved = "tracked because it was moved into the tracked folder 'Contoso'"
    run.wait_for(lambda: _held(org, "<seats@c.example>")[1].startswith(moved))
    run.stop()
    assert (activity_id, org.records["deal"]) in _regardings(org)
    assert len(_regardings(org)) == 2  # Other, and Seats once


def test_a_move_out_of_a_tracked_folder_untracks_and_keeps_the_activity(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    moving = _moving(source)
    org, run = org_run
    org.set_track_incoming("dana", TrackIncoming.NONE)
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    source.deliver(DANA, make_email(subject="Seats", message_id="<seats@c.example>"), "Contoso")
    run.start(service_for(run))
    run.wait_for(lambda: _held(org, "<seats@c.example>")[0] is Outcome.TRACKED)
    activity_id = _held(org, "<seats@c.example>")[2]
    moving.move(DANA, "<seats@c.example>", "Contoso", "INBOX")
    run.wait_for(lambda: _held(org, "<seats@c.example>")[0] is Outcome.NOT_TRACKED)
    run.stop()
    assert _held(org, "<seats@c.example>") == (
        Outcome.NOT_TRACKED,
        "not tracked: untracked because it was moved out of the tracked folder 'Contoso'",
        activity_id,
    )
    assert _regardings(org) == [(activity_id, org.records["deal"])]


def test_a_deleted_email_keeps_its_activity_and_says_it_left_the_synced_folders(
    source: MailSource, org_run: tuple[Org, SyncRun]
) -> None:
    moving = _moving(source)
    org, run = org_run
    source.deliver(DANA, make_email(subject="Seats", message_id="<seats@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: _held(org, "<seats@c.example>")[0] is Outcome.TRACKED)
    activity_id = _held(org, "<seats@c.example>")[2]
    moving.delete(DANA, "<seats@c.example>")
    run.wait_for(lambda: "no longer in" in _held(org, "<seats@c.example>")[1])
    run.stop()
    outcome, summary, held = _held(org, "<seats@c.example>")
    assert (outcome, held) == (Outcome.TRACKED, activity_id)
    assert summary.startswith("tracked; no longer in the mailbox's synced folders")
    assert _regardings(org) == [(activity_id, None)]
