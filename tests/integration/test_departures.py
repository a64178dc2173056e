"""Deletions and moves on the server, carried to the activity (``services.departures``):
each half of a move offered to the service as sync offers it, in both orders, on both
databases."""

from __future__ import annotations

import pytest

from tests.builders import Org, make_email
from tidings.domain.message import MessageOrigin
from tidings.domain.people import PersonalOptions, TrackIncoming
from tidings.domain.stored import ActivityFilter
from tidings.domain.tracking import Outcome
from tidings.services.departures import Departures

ORDERS = ["departure first", "arrival first"]


class Mail:
    """One email of Dana's mailbox, offered to ingest and to ``Departures`` folder by folder."""

    def __init__(self, org: Org, raw: bytes) -> None:
        self.org = org
        self.raw = raw
        self.mailbox_id = org.mailboxes["dana"]
        self.departures = Departures(org.tidings.uow, org.tidings.clock)
        self._uid = 0

    def arrive(self, folder: str) -> str:
        self._uid += 1
        uid = str(self._uid)
        result = self.org.tidings.ingest.ingest(
            self.raw, MessageOrigin(self.mailbox_id, folder, 1, uid)
        )
        self.departures.arrived(self.mailbox_id, [result.raw_message_id])
        return uid

    def leave(self, folder: str, uid: str) -> None:
        self.departures.departed(self.mailbox_id, folder, 1, [uid])

    def move(self, source: str, uid: str, destination: str, order: str) -> str:
        if order == "departure first":
            self.leave(source, uid)
            return self.arrive(destination)
        new_uid = self.arrive(destination)
        self.leave(source, uid)
        return new_uid


def _set_option(org: Org, option: TrackIncoming) -> None:
    user = org.users["dana"]
    user.options = PersonalOptions(option)
    with org.tidings.uow() as uow:
        uow.directory.save_user(user)
        uow.commit()


def _story(org: Org, message_id: str) -> tuple[Outcome | None, str, int | None]:
    """The explanation of the copy that holds the email's activity."""
    stories = [s for s in org.tidings.explain.by_message_id(message_id) if s.activity_id]
    assert len(stories) == 1
    return stories[0].outcome, stories[0].summary, stories[0].activity_id


def _activities(org: Org) -> list[tuple[int | None, object]]:
    found = org.tidings.queries.activities(ActivityFilter()).items
    return [(a.id, a.regarding) for a in found]


@pytest.mark.parametrize("order", ORDERS)
def test_an_email_moved_into_a_tracked_folder_takes_its_regarding_on_the_same_activity(
    org: Org, order: str
) -> None:
    # Tracked in the Inbox by the owner's option, then moved into a folder whose rule names
    # a record: the one activity gets that regarding, whichever half of the move came first.
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    mail = Mail(org, make_email(subject="Seats", message_id="<seats@c.example>"))
    uid = mail.arrive("INBOX")
    [(activity_id, regarding)] = _activities(org)
    assert regarding is None
    mail.move("INBOX", uid, "Contoso", order)
    assert _activities(org) == [(activity_id, org.records["deal"])]
    outcome, summary, held = _story(org, "<seats@c.example>")
    assert (outcome, held) == (Outcome.TRACKED, activity_id)
    assert summary == (
        "tracked because it was moved into the tracked folder 'Contoso', "
        f"whose rule sets the regarding record {org.records['deal']}"
    )


@pytest.mark.parametrize("order", ORDERS)
def test_an_email_tracked_only_by_its_folder_is_untracked_when_moved_out_keeping_the_activity(
    org: Org, order: str
) -> None:
    # Dana tracks nothing by option: only the folder's rule tracked the email.
    _set_option(org, TrackIncoming.NONE)
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    mail = Mail(org, make_email(subject="Seats", message_id="<seats@c.example>"))
    uid = mail.arrive("Contoso")
    [(activity_id, _)] = _activities(org)
    mail.move("Contoso", uid, "INBOX", order)
    outcome, summary, held = _story(org, "<seats@c.example>")
    assert (outcome, held) == (Outcome.NOT_TRACKED, activity_id)
    assert (
        summary == "not tracked: untracked because it was moved out of the tracked folder 'Contoso'"
    )
    assert _activities(org) == [(activity_id, org.records["deal"])]


def test_moved_back_into_its_tracked_folder_the_email_is_tracked_again(org: Org) -> None:
    _set_option(org, TrackIncoming.NONE)
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    mail = Mail(org, make_email(subject="Seats", message_id="<seats@c.example>"))
    uid = mail.arrive("Contoso")
    uid = mail.move("Contoso", uid, "INBOX", "departure first")
    mail.move("INBOX", uid, "Contoso", "arrival first")
    outcome, summary, _ = _story(org, "<seats@c.example>")
    assert outcome is Outcome.TRACKED
    assert summary.startswith("tracked because it was moved into the tracked folder 'Contoso'")
    assert len(_activities(org)) == 1


@pytest.mark.parametrize("order", ORDERS)
def test_an_email_the_owners_option_tracks_keeps_its_state_when_moved_out_of_a_rule_folder(
    org: Org, order: str
) -> None:
    # Track incoming email "All email messages" would track it in the Inbox as well.
    org.add_folder_rule("dana", "Contoso")
    mail = Mail(org, make_email(subject="Seats", message_id="<seats@c.example>"))
    uid = mail.arrive("Contoso")
    mail.move("Contoso", uid, "INBOX", order)
    outcome, summary, _ = _story(org, "<seats@c.example>")
    assert outcome is Outcome.TRACKED
    assert (
        summary == "tracked; moved to 'INBOX'; it was tracked for another reason than a folder rule"
    )


def test_a_deleted_email_keeps_its_activity_and_the_explanation_says_where_it_went(
    org: Org,
) -> None:
    mail = Mail(org, make_email(subject="Seats", message_id="<seats@c.example>"))
    uid = mail.arrive("INBOX")
    [(activity_id, _)] = _activities(org)
    mail.leave("INBOX", uid)
    mail.leave("INBOX", uid)  # told twice: nothing more happens
    outcome, summary, held = _story(org, "<seats@c.example>")
    assert (outcome, held) == (Outcome.TRACKED, activity_id)
    assert summary == (
        "tracked; no longer in the mailbox's synced folders (deleted, or moved to a folder "
        "Tidings does not sync): the activity is kept as it was"
    )
    [story] = org.tidings.explain.by_message_id("<seats@c.example>")
    assert story.reasons[0].rule == "folder_move"
    assert _activities(org) == [(activity_id, None)]


def test_a_departure_of_what_tidings_never_kept_changes_nothing(org: Org) -> None:
    mail = Mail(org, make_email(subject="Seats", message_id="<seats@c.example>"))
    mail.arrive("INBOX")
    assert mail.departures.departed(mail.mailbox_id, "INBOX", 1, ["99"]) == []
    assert _story(org, "<seats@c.example>")[1] == "tracked"
