"""Tracking by the "Tracked" category: a person who sets it on an email in a synced folder
has it tracked, whatever their Track incoming email option; removing it untracks the email
(the activity stays, its email's decision says who untracked it and how). Tidings also
writes the category onto what it tracks, once.

Sync hands over the flags it read (``apply``) and asks what to write (``to_write``); what
was on the server is kept per email (``CategoryMark``) so that only a change acts: a
category never seen cannot be "removed", and one Tidings wrote is not written again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tidings.domain.correlation import choose_regarding
from tidings.domain.message import MessageOrigin, parse_email, parse_headers
from tidings.domain.rules import decide
from tidings.domain.settings import EmailConfiguration
from tidings.domain.stored import StoredDecision
from tidings.domain.tracked_category import (
    MARKED_RULE,
    UNMARKED_RULE,
    CategoryChange,
    CategoryMark,
    FlagState,
    category_change,
    has_keyword,
)
from tidings.domain.tracking import Outcome, Reason, TrackingDecision, Verdict
from tidings.services import events
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.tracking.batch_lookups import BatchLookups
from tidings.services.tracking.gather_facts import gather_facts, identity_of, load_context
from tidings.services.tracking.record import fill_content, record_activity
from tidings.services.tracking.results import IngestResult

#: A folder to look at for tracked email that lacks the category: (mailbox, folder,
#: UIDVALIDITY, the UIDs to look among, or None for the whole folder).
ToWrite = tuple[int, str, int, tuple[str, ...] | None]


@dataclass(frozen=True)
class CategoryState:
    """One message's category as a mail system reports it, by its id in the folder."""

    uid: str
    present: bool
    seen: bool | None = None


def imap_states(states: Sequence[FlagState], keyword: str) -> list[CategoryState]:
    """IMAP flags as category states: the keyword, and ``\\Seen`` for the read state."""
    return [
        CategoryState(str(s.uid), has_keyword(s.flags, keyword), has_keyword(s.flags, "\\Seen"))
        for s in states
    ]


class CategoryTracking:
    """Acts on category changes read by sync, and says what category to write."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        *,
        reads: Callable[[], UnitOfWork] | None = None,
    ) -> None:
        self._uow = uow_factory
        #: Units of work that only read (each flag round reads the settings and what to write).
        self._reads = reads or uow_factory
        self._clock = clock
        #: The email configuration as last read, with when (``settings``).
        self._settings_read: tuple[float, EmailConfiguration] | None = None

    def settings(self, max_age: float = 0.0) -> EmailConfiguration:
        """The email configuration; one read up to ``max_age`` seconds old will do. Each
        flag round asks whether the category is on and what keyword it is before it reads
        the server: a thousand folders under a flow of mail would otherwise read it a
        thousand times a minute. What acts on the category reads it again where it acts."""
        fresh = self._fresh_settings(max_age)
        if fresh is not None:
            return fresh
        with self._reads() as uow:
            config = uow.settings.get()
        self._settings_read = (time.monotonic(), config)
        return config

    async def recent_settings(self, max_age: float) -> EmailConfiguration:
        """``settings`` for the event loop: from memory while fresh enough, else read in a
        thread (a hop for what is in memory would queue behind other folders' storage work)."""
        fresh = self._fresh_settings(max_age)
        if fresh is not None:
            return fresh
        return await asyncio.to_thread(self.settings, max_age)

    def _fresh_settings(self, max_age: float) -> EmailConfiguration | None:
        read = self._settings_read
        if read is not None and time.monotonic() - read[0] <= max_age:
            return read[1]
        return None

    def apply(
        self, mailbox_id: int, folder: str, uidvalidity: int, states: Sequence[CategoryState]
    ) -> list[IngestResult]:
        """Track what was marked and untrack what was unmarked since the last look; returns
        the emails whose outcome changed. Messages not kept yet are left for sync to fetch
        first."""
        if not states:
            return []
        with self._uow() as uow:
            results = self._apply(uow, mailbox_id, folder, uidvalidity, states)
            uow.commit()
        return results

    def settle(
        self,
        mailbox_id: int,
        folder: str,
        uidvalidity: int,
        states: Sequence[CategoryState],
        write_limit: int = 500,
        among: Sequence[str] | None = None,
    ) -> tuple[list[IngestResult], list[tuple[int, str]]]:
        """``apply``, then ``to_write`` read in the same transaction: an IMAP flag round's
        storage work before it writes the category, in one transaction rather than two.

        ``among``: look only at these UIDs for what lacks the category (the round's own
        mail and changes); None: at the folder's every email, which costs a read of each."""
        with self._uow() if states else self._reads() as uow:
            if not uow.settings.get().use_tracked_category:
                return [], []
            results = self._apply(uow, mailbox_id, folder, uidvalidity, states)
            if among is None:
                pending = uow.category_marks.to_write(mailbox_id, folder, uidvalidity, write_limit)
            else:
                key = (mailbox_id, folder, uidvalidity)
                pending = uow.category_marks.to_write_among({key: among}, write_limit)[key]
            if states:
                uow.commit()
        return results, pending

    def _apply(
        self,
        uow: UnitOfWork,
        mailbox_id: int,
        folder: str,
        uidvalidity: int,
        states: Sequence[CategoryState],
    ) -> list[IngestResult]:
        if not states:
            return []
        origins = {s.uid: MessageOrigin(mailbox_id, folder, uidvalidity, s.uid) for s in states}
        now = self._clock.now()
        results: list[IngestResult] = []
        config = uow.settings.get()
        if not config.use_tracked_category:
            return []
        raw_ids = uow.raw_messages.ids_by_origins(list(origins.values()))
        # Judged after ingest or a move deciding about the same email at this moment.
        uow.raw_messages.hold_identities(uow.raw_messages.identities_of(list(raw_ids.values())))
        # One state per kept email, the last reported: a page may name a message twice
        # (EWS lists its Create and its Update), and two must never make two marks.
        latest = {raw_ids[origins[s.uid]]: s for s in states if origins[s.uid] in raw_ids}
        marks = uow.category_marks.marks(latest.keys())
        changes = {
            raw_id: category_change(marks.get(raw_id), s.present) for raw_id, s in latest.items()
        }
        # One read for the decisions of every change: a folder whose emails arrive marked
        # already (a category set before Tidings synced it) changes them all at once.
        decisions = uow.decisions.get_many(
            [raw_id for raw_id, change in changes.items() if change is not CategoryChange.NONE]
        )
        changed: list[CategoryMark] = []
        for raw_id, state in latest.items():
            mark = marks.get(raw_id)
            change = changes[raw_id]
            if change is CategoryChange.ADDED:
                result = self._marked(uow, raw_id, decisions.get(raw_id), config, now)
            elif change is CategoryChange.REMOVED:
                result = self._unmarked(uow, raw_id, decisions.get(raw_id), config, now)
            elif mark is None or state.seen in (None, mark.seen):
                continue  # nothing new to keep
            else:
                result = None
            if result is not None:
                results.append(result)
            moved = change is not CategoryChange.NONE or mark is None
            changed.append(
                CategoryMark(
                    raw_id,
                    state.present,
                    now if moved or mark is None else mark.changed_at,
                    mark.written_at if mark else None,
                    state.seen,
                )
            )
        uow.category_marks.save(changed)
        return results

    def to_write(
        self, mailbox_id: int, folder: str, uidvalidity: int, limit: int = 500
    ) -> list[tuple[int, str]]:
        """(raw id, uid) of tracked email of the folder that still lacks the category."""
        with self._reads() as uow:
            if not uow.settings.get().use_tracked_category:
                return []
            return uow.category_marks.to_write(mailbox_id, folder, uidvalidity, limit)

    def to_write_many(
        self, folders: Sequence[ToWrite], limit: int = 500
    ) -> list[list[tuple[int, str]]]:
        """``to_write`` of many folders in one transaction: the flag rounds of a thousand
        pushed folders, each with no flag change to act on. The caller has checked that
        the category is in use (flag rounds go by the configuration read at most a refresh
        interval ago): reading it again here would cost every round a statement."""
        with self._reads() as uow:
            # Folders looking at their new UIDs only: one statement for many of them.
            asked: dict[tuple[int, str, int], set[str]] = {}
            for mailbox_id, folder, uidvalidity, uids in folders:
                if uids is not None:
                    asked.setdefault((mailbox_id, folder, uidvalidity), set()).update(uids)
            among = uow.category_marks.to_write_among(
                {key: sorted(uids) for key, uids in asked.items()}, limit
            )
            return [
                [found for found in among[(mailbox_id, folder, uidvalidity)] if found[1] in uids]
                if uids is not None
                else uow.category_marks.to_write(mailbox_id, folder, uidvalidity, limit)
                for mailbox_id, folder, uidvalidity, uids in folders
            ]

    def written(self, raw_message_ids: Sequence[int]) -> None:
        """Tidings wrote the category on these emails: never again."""
        self.record_written([(raw_id, None) for raw_id in raw_message_ids])

    def record_written(self, written: Sequence[tuple[int, bool | None]]) -> None:
        """``written`` with the read state each email had as Tidings wrote on it."""
        with self._uow() as uow:
            self.record_written_in(uow, written)
            uow.commit()

    def record_written_in(
        self, uow: UnitOfWork, written: Sequence[tuple[int, bool | None]]
    ) -> None:
        """``record_written`` in the caller's transaction: marks for what Tidings wrote the
        category on, with the read state seen as it wrote (None: as the mark had it)."""
        now = self._clock.now()
        # A flag round knows each read state: the marks are read only for those it does not.
        unknown = [raw_id for raw_id, seen in written if seen is None]
        marks = uow.category_marks.marks(unknown) if unknown else {}
        uow.category_marks.save(
            [
                CategoryMark(
                    raw_id,
                    True,
                    now,
                    now,
                    seen if seen is not None else (marks[raw_id].seen if raw_id in marks else None),
                )
                for raw_id, seen in written
            ]
        )

    def _marked(
        self,
        uow: UnitOfWork,
        raw_id: int,
        previous: StoredDecision | None,
        config: EmailConfiguration,
        now: datetime,
    ) -> IngestResult | None:
        if previous is not None and previous.outcome is Outcome.TRACKED:
            return None  # tracked already: the mark says so, nothing more
        if uow.parked.get_by_raw(raw_id) is not None:
            return None  # replay decides it, and then sees the mark
        stored = uow.raw_messages.require(raw_id)
        text = f"tracked because you marked it with the category {config.tracked_category!r}"
        if previous is not None and previous.activity_id is not None:
            # Untracked when the category was removed; the activity stayed: track it again.
            reasons = (Reason(MARKED_RULE, Verdict.PASS, text), *_earlier(previous))
            self._replace(uow, previous, Outcome.TRACKED, text, reasons, previous.activity_id, now)
            activity = uow.activities.get(previous.activity_id)
            if activity is not None:
                events.activity_updated(uow, activity, now)
            return IngestResult(stored.id, Outcome.TRACKED, text, previous.activity_id)
        context = load_context(uow, stored.origin.mailbox_id)
        headers = parse_headers(stored.raw)
        lookups = BatchLookups(uow, [headers], [identity_of(stored)], config.tracking_token)
        facts = replace(gather_facts(lookups, context, stored, headers), marked=True)
        decision = decide(facts)
        correlation = choose_regarding(facts.correlation, facts.folder_rule)
        if not decision.tracked:
            # Still not tracked (say, already tracked from another folder): the explanation
            # now says it was marked, but nothing changed to tell of.
            record = StoredDecision(
                stored.id, Outcome.NOT_TRACKED, decision.summary(), decision, correlation, None, now
            )
            if previous is not None:
                uow.decisions.delete(stored.id)
            uow.decisions.add(record)
            return None
        with uow.savepoint():
            activity_id = record_activity(uow, lookups, stored, facts, now)
            fill_content(uow, activity_id, parse_email(stored.raw), config)
        if previous is not None:
            uow.decisions.delete(stored.id)
        record = StoredDecision(
            stored.id, Outcome.TRACKED, text, decision, correlation, activity_id, now
        )
        uow.decisions.add(record)
        return IngestResult(stored.id, Outcome.TRACKED, text, activity_id)

    def _unmarked(
        self,
        uow: UnitOfWork,
        raw_id: int,
        previous: StoredDecision | None,
        config: EmailConfiguration,
        now: datetime,
    ) -> IngestResult | None:
        if previous is None or previous.outcome is not Outcome.TRACKED:
            return None
        text = f"untracked because the category {config.tracked_category!r} was removed"
        reasons = (Reason(UNMARKED_RULE, Verdict.FAIL, text), *_earlier(previous))
        summary = f"not tracked: {text}"
        activity_id = previous.activity_id
        self._replace(uow, previous, Outcome.NOT_TRACKED, summary, reasons, activity_id, now)
        if previous.activity_id is not None:
            activity = uow.activities.get(previous.activity_id)
            if activity is not None:
                events.activity_untracked(uow, activity, now)
        return IngestResult(raw_id, Outcome.NOT_TRACKED, summary, previous.activity_id)

    @staticmethod
    def _replace(
        uow: UnitOfWork,
        previous: StoredDecision,
        outcome: Outcome,
        summary: str,
        reasons: tuple[Reason, ...],
        activity_id: int | None,
        now: datetime,
    ) -> None:
        uow.decisions.delete(previous.raw_message_id)
        uow.decisions.add(
            StoredDecision(
                raw_message_id=previous.raw_message_id,
                outcome=outcome,
                summary=summary,
                decision=TrackingDecision(reasons),
                correlation=previous.correlation,
                activity_id=activity_id,
                decided_at=now,
            )
        )


def _earlier(previous: StoredDecision) -> tuple[Reason, ...]:
    """The reasons of an earlier decision, less what an earlier mark or unmark said."""
    return tuple(r for r in previous.decision.reasons if r.rule not in (MARKED_RULE, UNMARKED_RULE))
