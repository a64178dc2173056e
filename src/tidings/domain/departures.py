"""What it means for a tracked email when it leaves a synced folder on its server.

An email of one mailbox is one email however many folders hold it: its copies are the kept
raw messages of that mailbox with the same identity (Message-ID, else content hash), one per
folder it was seen in. Each copy is present until the server says it left its folder (IMAP
``VANISHED`` or a UID no longer found, Graph ``@removed``, EWS ``Delete``, Gmail
``messagesDeleted`` or the synced label removed).

A move is a departure from one folder and an arrival in another; a delete is a departure
with no arrival. Sync may see the two halves of a move in either order, or far apart (two
folders are synced by two tasks), so what Tidings decides never depends on the order or on
which half came last: it depends only on where the email is *now*::

    where now (synced folders holding a present copy)
        │
        ├── none ───────────────────────▶ GONE: the activity stays exactly as it was
        │                                   ("no longer in the mailbox's synced folders")
        ├── a folder with a rule ──────▶ IN_TRACKED_FOLDER: tracked, regarding that
        │                                   folder's rule's record (when the rule names one)
        └── only folders without a rule
              ├── tracked only by a rule ▶ UNTRACKED: "untracked because it was moved out
              │   (and the owner's option  of the tracked folder X"; the activity is kept
              │   would not track it here)
              └── tracked for another ───▶ MOVED: where it is changes, nothing else
                  reason (owner's option, category, by hand, tracking address)

Seen in either order, a move from A to B passes through {A, B} (arrival first) or {}
(departure first) before it settles at {B}; both intermediate verdicts are undone by the
final one, which is a function of {B}, the email's first decision and the folders it left.
A verdict that equals the one already stored changes nothing, so rounds repeat safely.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tidings.domain.folders import FolderTrackingRule, is_inbox
from tidings.domain.records import RecordRef
from tidings.domain.rules import RULES
from tidings.domain.tracked_category import MARKED_RULE, UNMARKED_RULE
from tidings.domain.tracking import Reason, TrackingFacts, Verdict

#: The rule that names a move or delete in a decision's reasons.
MOVED_RULE = "folder_move"
#: The rules that record an owner's own choice (``services.manual_tracking``).
_BY_HAND = ("tracked_by_hand", "untracked_by_hand")
_OPTION_RULE = "track_incoming_option"


class Placement(enum.StrEnum):
    """What the email's place now means for its activity."""

    IN_TRACKED_FOLDER = "in_tracked_folder"
    UNTRACKED = "untracked"
    MOVED = "moved"
    GONE = "gone"


@dataclass(frozen=True)
class FolderCopy:
    """One copy of an email in one folder, and when the server said it left (if it did)."""

    raw_message_id: int
    folder: str
    departed_at: datetime | None = None

    @property
    def present(self) -> bool:
        return self.departed_at is None


@dataclass(frozen=True)
class MoveVerdict:
    """The placement of an email and the reason that explains it."""

    placement: Placement
    reason: Reason
    #: The folder whose rule tracks the email now (IN_TRACKED_FOLDER).
    folder: str | None = None
    #: The record that rule sets as regarding, if any.
    regarding: RecordRef | None = None

    @property
    def tracks(self) -> bool | None:
        """True: tracked now; False: untracked now; None: as it was."""
        if self.placement is Placement.IN_TRACKED_FOLDER:
            return True
        if self.placement is Placement.UNTRACKED:
            return False
        return None


def tracked_by_folder_only(reasons: Sequence[Reason]) -> bool:
    """Whether an email's first decision tracked it for its folder's rule and nothing else.

    The owner's option is set aside (``not_applicable``) only for a marked email or one in a
    folder with a rule; a mark, a choice by hand or the tracking address (whose reasons
    carry no option at all) is another reason to keep it tracked wherever it goes.
    """
    if any(r.rule in _BY_HAND for r in reasons):
        return False
    if any(r.rule == MARKED_RULE and r.verdict is Verdict.PASS for r in reasons):
        return False
    return any(r.rule == _OPTION_RULE and r.verdict is Verdict.NOT_APPLICABLE for r in reasons)


def earlier_reasons(reasons: Sequence[Reason]) -> tuple[Reason, ...]:
    """A decision's reasons less what an earlier move said (the first decision's remain)."""
    return tuple(r for r in reasons if r.rule != MOVED_RULE)


def place(
    copies: Sequence[FolderCopy],
    rules: Mapping[str, FolderTrackingRule],
    first_reasons: Sequence[Reason],
    option_tracks: Callable[[str], bool] = lambda folder: False,
) -> MoveVerdict:
    """Where the email is now, and what that means (see the module's diagram).

    ``copies`` are its copies in the folders Tidings syncs; ``rules`` the mailbox's folder
    rules in force (none while folder-level tracking is off); ``first_reasons`` the reasons
    its activity was first tracked for; ``option_tracks(folder)`` whether the owner's Track
    incoming email option tracks it in a folder without a rule (asked only when it decides:
    an email the option tracks anyway was not tracked *only* for its folder's rule).
    """
    here = sorted({c.folder for c in copies if c.present})
    left = _left(copies, here)
    tracked_here = [f for f in here if f in rules and not is_inbox(f)]
    if not here:
        text = (
            "no longer in the mailbox's synced folders (deleted, or moved to a folder "
            "Tidings does not sync): the activity is kept as it was"
        )
        return MoveVerdict(Placement.GONE, Reason(MOVED_RULE, Verdict.NOT_APPLICABLE, text))
    if tracked_here:
        folder = tracked_here[0]
        rule = rules[folder]
        text = f"tracked because it is in the tracked folder {folder!r}"
        if left:
            text = f"tracked because it was moved into the tracked folder {folder!r}"
        if rule.regarding is not None:
            text += f", whose rule sets the regarding record {rule.regarding}"
        reason = Reason(MOVED_RULE, Verdict.PASS, text)
        return MoveVerdict(Placement.IN_TRACKED_FOLDER, reason, folder, rule.regarding)
    where = ", ".join(repr(f) for f in here)
    if tracked_by_folder_only(first_reasons) and not option_tracks(here[0]):
        gone_from = next((f for f in left if not is_inbox(f)), None)
        text = (
            f"untracked because it was moved out of the tracked folder {gone_from!r}"
            if gone_from is not None
            else "untracked because it is no longer in a tracked folder"
        )
        return MoveVerdict(Placement.UNTRACKED, Reason(MOVED_RULE, Verdict.FAIL, text))
    text = f"moved to {where}; it was tracked for another reason than a folder rule"
    return MoveVerdict(Placement.MOVED, Reason(MOVED_RULE, Verdict.NOT_APPLICABLE, text))


def _left(copies: Sequence[FolderCopy], here: Sequence[str]) -> list[str]:
    """The folders the email left and is not back in, the most recent departure first."""
    gone = sorted(
        (c for c in copies if c.departed_at is not None and c.folder not in here),
        key=lambda c: (c.departed_at, c.folder),
        reverse=True,
    )
    seen: list[str] = []
    for copy in gone:
        if copy.folder not in seen:
            seen.append(copy.folder)
    return seen


def without_untracking(reasons: Sequence[Reason]) -> tuple[Reason, ...]:
    """The reasons to keep when a move tracks an email again: a removed category or an
    untracking by hand no longer holds once the email went into a tracked folder."""
    return tuple(r for r in reasons if r.rule not in (UNMARKED_RULE, "untracked_by_hand"))


def option_tracks_in(facts: TrackingFacts, folder: str) -> bool:
    """Whether the owner's Track incoming email option tracks the email in ``folder``, a
    folder without a rule (the rule ``track_incoming_option`` asked there)."""
    here = replace(facts, folder=folder, folder_rule=None, marked=False)
    reason = next(rule for rule in RULES if rule.name == _OPTION_RULE)(here)
    return reason.verdict is Verdict.PASS
