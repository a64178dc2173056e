"""Deletions and moves on the server, carried to the activity they concern.

Sync reports two things: copies that left a folder (``departed``: IMAP ``VANISHED`` or a UID
no longer found, Graph ``@removed``, EWS ``Delete``, Gmail ``messagesDeleted`` or the synced
label removed) and copies newly kept (``arrived``, after ingest). Either way the email's
placement is worked out again from where its copies are *now* (``domain.departures.place``)
and applied to the decision that holds its activity:

- in a folder with a rule: tracked, the rule's regarding set on the same activity;
- only in folders without a rule, tracked for its old folder's rule alone (and the owner's
  option would not track it where it is): untracked, the activity kept (as D365 does: it
  untracks, it never deletes);
- tracked for another reason: nothing changes but where it is;
- in no synced folder (deleted, or moved to a folder Tidings does not sync): nothing changes,
  and the explanation says it is no longer in the mailbox's synced folders.

An email never tracked is left to ingest: each copy is decided where it arrives, and a copy
arriving in a tracked folder is tracked there as any new email is. The first decision's
reasons stay beneath the move's, so repeated moves are judged against why it was tracked
in the first place, and a verdict already stored is not stored again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from tidings.domain.departures import (
    FolderCopy,
    MoveVerdict,
    earlier_reasons,
    option_tracks_in,
    place,
    without_untracking,
)
from tidings.domain.folders import FolderTrackingRule
from tidings.domain.message import MessageOrigin, parse_headers
from tidings.domain.stored import StoredDecision
from tidings.domain.tracking import Outcome, Reason, TrackingDecision, Verdict
from tidings.services import events
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.tracking.batch_lookups import BatchLookups
from tidings.services.tracking.gather_facts import gather_facts, identity_of, load_context
from tidings.services.tracking.results import IngestResult
from tidings.services.untracked_folders import tracked_folders


class Departures:
    """Acts on copies leaving or reaching synced folders."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        *,
        reads: Callable[[], UnitOfWork] | None = None,
    ) -> None:
        self._uow = uow_factory
        #: Units of work that only read: most arrivals are no move, which a read tells.
        self._reads = reads or uow_factory
        self._clock = clock

    def departed(
        self, mailbox_id: int, folder: str, uidvalidity: int, uids: Sequence[str]
    ) -> list[IngestResult]:
        """These ids left the folder on the server; returns the emails whose state changed.
        Ids never kept, or already known to have left, change nothing."""
        if not uids:
            return []
        now = self._clock.now()
        with self._uow() as uow:
            origins = [MessageOrigin(mailbox_id, folder, uidvalidity, str(uid)) for uid in uids]
            kept = uow.raw_messages.ids_by_origins(origins)
            if not kept:
                return []
            raw_ids = uow.presence.depart(list(kept.items()), now)
            results = self._settle_all(uow, mailbox_id, raw_ids, now)
            uow.commit()
        return results

    def returned(
        self, mailbox_id: int, folder: str, uidvalidity: int, uids: Sequence[str]
    ) -> list[IngestResult]:
        """These ids are in the folder (again): a mail API names a message by the same id when
        it comes back to a folder it left (Graph immutable ids, Gmail ids), where an IMAP
        server would give it a new UID. Departures of them are undone."""
        if not uids:
            return []
        now = self._clock.now()
        with self._uow() as uow:
            origins = [MessageOrigin(mailbox_id, folder, uidvalidity, str(uid)) for uid in uids]
            back = uow.presence.back(origins)
            if not back:
                return []
            results = self._settle_all(uow, mailbox_id, back, now)
            uow.commit()
        return results

    def arrived(self, mailbox_id: int, raw_message_ids: Sequence[int]) -> list[IngestResult]:
        """These copies were just kept; those of email held in another folder too are the
        arriving half of a move (or a copy): returns the emails whose state changed."""
        if not raw_message_ids:
            return []
        now = self._clock.now()
        with self._reads() as uow:
            if not uow.presence.with_copies_elsewhere(raw_message_ids):
                return []
        with self._uow() as uow:  # read again where it is settled
            elsewhere = uow.presence.with_copies_elsewhere(raw_message_ids)
            if not elsewhere:
                return []
            results = self._settle_all(uow, mailbox_id, elsewhere, now)
            uow.commit()
        return results

    def copies_elsewhere(self, raw_message_ids: Sequence[int]) -> set[int]:
        """Those of these kept emails of which their mailbox holds a copy in another folder
        (a read only: ``arrived`` settles them)."""
        if not raw_message_ids:
            return set()
        with self._reads() as uow:
            return set(uow.presence.with_copies_elsewhere(raw_message_ids))

    def present_uids(self, mailbox_id: int, folder: str, uidvalidity: int, limit: int) -> list[str]:
        """The newest ``limit`` ids kept of a folder that have not left it."""
        with self._reads() as uow:
            return uow.presence.present_uids(mailbox_id, folder, uidvalidity, limit)

    def _settle_all(
        self, uow: UnitOfWork, mailbox_id: int, raw_ids: Sequence[int], now: datetime
    ) -> list[IngestResult]:
        # Where the copies are is read only once ingest or the other half of a move, if
        # either is deciding about the same email, has committed (see ``hold_identities``).
        uow.raw_messages.hold_identities(uow.raw_messages.identities_of(raw_ids))
        config = uow.settings.get()
        rules = (
            {r.folder: r for r in uow.mailboxes.folder_rules(mailbox_id)}
            if config.folder_level_tracking
            else {}
        )
        synced = tracked_folders(config, {mailbox_id: rules.keys()}, mailbox_id)
        validity = {
            folder: cursor.uidvalidity
            for folder in synced
            if (cursor := uow.cursors.get(mailbox_id, folder)) is not None
        }
        settled: set[int] = set()
        results: list[IngestResult] = []
        for raw_id in raw_ids:
            if raw_id in settled:
                continue
            found = uow.presence.copies(raw_id)
            settled.update(copy_id for copy_id, _, _ in found)
            # A copy counts in a folder Tidings syncs, under the folder's current numbering:
            # one under an older UIDVALIDITY was offered again under the new one if it stayed.
            copies = [
                FolderCopy(copy_id, origin.folder, left)
                for copy_id, origin, left in found
                if origin.folder in synced
                and validity.get(origin.folder, origin.uidvalidity) == origin.uidvalidity
            ]
            result = _settle(uow, sorted({i for i, _, _ in found}), copies, rules, now)
            if result is not None:
                results.append(result)
        return results


def _settle(
    uow: UnitOfWork,
    copy_ids: Sequence[int],
    copies: Sequence[FolderCopy],
    rules: Mapping[str, FolderTrackingRule],
    now: datetime,
) -> IngestResult | None:
    holder = _holder(uow, copy_ids)
    if holder is None or holder.activity_id is None:
        return None  # never tracked: each copy was decided by ingest where it arrived
    first = earlier_reasons(holder.decision.reasons)

    def option_tracks(folder: str) -> bool:
        stored = uow.raw_messages.require(holder.raw_message_id)
        context = load_context(uow, stored.origin.mailbox_id)
        headers = parse_headers(stored.raw)
        token = context.config.tracking_token
        lookups = BatchLookups(uow, [headers], [identity_of(stored)], token)
        return option_tracks_in(gather_facts(lookups, context, stored, headers), folder)

    verdict = place(copies, rules, first, option_tracks)
    tracked = holder.outcome is Outcome.TRACKED
    now_tracked = tracked if verdict.tracks is None else verdict.tracks
    reasons = (verdict.reason, *(without_untracking(first) if verdict.tracks else first))
    activity = uow.activities.get(holder.activity_id)
    regarding_changes = (
        verdict.regarding is not None
        and activity is not None
        and activity.regarding != verdict.regarding
    )
    if reasons == holder.decision.reasons and now_tracked == tracked and not regarding_changes:
        return None  # already so: a repeated report, or the other half of a move
    outcome = Outcome.TRACKED if now_tracked else Outcome.NOT_TRACKED
    summary = _summary(verdict, outcome, first)
    uow.decisions.delete(holder.raw_message_id)
    uow.decisions.add(
        StoredDecision(
            raw_message_id=holder.raw_message_id,
            outcome=outcome,
            summary=summary,
            decision=TrackingDecision(reasons),
            correlation=holder.correlation,
            activity_id=holder.activity_id,
            decided_at=now,
        )
    )
    if activity is not None:
        if regarding_changes:
            uow.activities.set_regarding(holder.activity_id, verdict.regarding)
            activity = uow.activities.get(holder.activity_id) or activity
        if tracked and not now_tracked:
            events.activity_untracked(uow, activity, now)
        elif regarding_changes or (now_tracked and not tracked):
            events.activity_updated(uow, activity, now)
    return IngestResult(holder.raw_message_id, outcome, summary, holder.activity_id)


def _holder(uow: UnitOfWork, copy_ids: Sequence[int]) -> StoredDecision | None:
    """The decision of the copy that holds the email's activity (the first one tracked)."""
    for raw_id in copy_ids:
        decision = uow.decisions.get(raw_id)
        if decision is not None and decision.activity_id is not None:
            return decision
    return None


def _summary(verdict: MoveVerdict, outcome: Outcome, first: Sequence[Reason]) -> str:
    text = verdict.reason.text
    if verdict.tracks is True:
        return text
    if verdict.tracks is False:
        return f"not tracked: {text}"
    if outcome is Outcome.TRACKED:
        return f"tracked; {text}"
    failed = next((r.text for r in first if r.verdict is Verdict.FAIL), "untracked")
    return f"not tracked: {failed}; {text}"
