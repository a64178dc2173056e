"""Where a kept email is now, and what that means for its activity (``domain.departures``):
the verdict depends on the folders it is in, never on the order the server told of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import permutations

from tidings.domain.departures import (
    MOVED_RULE,
    FolderCopy,
    Placement,
    place,
    tracked_by_folder_only,
)
from tidings.domain.folders import FolderTrackingRule
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.tracked_category import MARKED_RULE
from tidings.domain.tracking import Reason, Verdict

DEAL = RecordRef(RecordKind.OPPORTUNITY, 7)
RULES = {
    "Contoso": FolderTrackingRule(1, "Contoso", DEAL),
    "Projects": FolderTrackingRule(1, "Projects"),
}
T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
BY_RULE = (
    Reason("folder_tracked", Verdict.PASS, "folder 'Contoso' is tracked by a folder-level rule"),
    Reason(
        "track_incoming_option", Verdict.NOT_APPLICABLE, "a folder-level rule tracks every email"
    ),
    Reason(MARKED_RULE, Verdict.NOT_APPLICABLE, "not marked"),
)
BY_OPTION = (
    Reason("folder_tracked", Verdict.PASS, "the Inbox is always tracked"),
    Reason("track_incoming_option", Verdict.PASS, "the owner's option is 'All email messages'"),
)


def test_tracked_by_folder_only_when_the_option_was_set_aside_for_a_rule_alone() -> None:
    assert tracked_by_folder_only(BY_RULE)
    assert not tracked_by_folder_only(BY_OPTION)
    marked = (*BY_RULE[:2], Reason(MARKED_RULE, Verdict.PASS, "marked"))
    assert not tracked_by_folder_only(marked)
    assert not tracked_by_folder_only((Reason("tracked_by_hand", Verdict.PASS, "by hand"),))


def test_in_no_synced_folder_the_email_is_gone_and_its_activity_stays_as_it_was() -> None:
    verdict = place([FolderCopy(1, "INBOX", T0)], RULES, BY_OPTION)
    assert (verdict.placement, verdict.tracks) == (Placement.GONE, None)
    assert verdict.reason.rule == MOVED_RULE
    assert "no longer in the mailbox's synced folders" in verdict.reason.text


def test_in_a_tracked_folder_it_is_tracked_with_the_rules_regarding() -> None:
    verdict = place([FolderCopy(1, "INBOX", T0), FolderCopy(2, "Contoso")], RULES, BY_OPTION)
    assert (verdict.placement, verdict.folder, verdict.regarding) == (
        Placement.IN_TRACKED_FOLDER,
        "Contoso",
        DEAL,
    )
    assert verdict.reason.text.startswith("tracked because it was moved into the tracked folder")


def test_moved_out_of_its_rule_folder_it_is_untracked_unless_the_option_tracks_it_here() -> None:
    copies = [FolderCopy(1, "Contoso", T0), FolderCopy(2, "INBOX")]
    untracked = place(copies, RULES, BY_RULE)
    assert (untracked.placement, untracked.tracks) == (Placement.UNTRACKED, False)
    assert untracked.reason.text == (
        "untracked because it was moved out of the tracked folder 'Contoso'"
    )
    kept = place(copies, RULES, BY_RULE, lambda folder: folder == "INBOX")
    assert (kept.placement, kept.tracks) == (Placement.MOVED, None)
    assert place(copies, RULES, BY_OPTION).placement is Placement.MOVED


def test_the_order_the_server_told_of_a_move_changes_nothing_once_both_halves_are_seen() -> None:
    # Each event is a copy leaving or reaching a folder; whatever their order and times, the
    # final verdict is the same.
    events = [
        ("leave", "Contoso"),
        ("arrive", "Projects"),
        ("leave", "Projects"),
        ("arrive", "INBOX"),
    ]
    verdicts = set()
    for order in permutations(events):
        present: dict[str, datetime | None] = {"Contoso": None}
        for n, (what, folder) in enumerate(order):
            if what == "arrive":
                present.setdefault(folder, None)
            else:
                present[folder] = T0 + timedelta(minutes=n)
        copies = [FolderCopy(i, f, left) for i, (f, left) in enumerate(sorted(present.items()))]
        verdicts.add(place(copies, RULES, BY_RULE).placement)
    assert verdicts == {Placement.UNTRACKED}
