"""Read-side use cases: activities with their parties and trace, mailboxes, parked email."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from tidings.domain.activity import EmailActivity
from tidings.domain.errors import NotFoundError
from tidings.domain.grid import EXPORT_CHUNK
from tidings.domain.mailbox import Mailbox
from tidings.domain.mailbox_views import MailboxView, in_view
from tidings.domain.records import RecordRef, RecordSummary
from tidings.domain.stored import ActivityFilter, ParkedEmail
from tidings.domain.sync import FolderSyncState, MailboxSync, mailbox_sync, worker_running
from tidings.services.explain import THREAD_LIMIT, ExplainService, Explanation
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.untracked_folders import tracked_folders


@dataclass(frozen=True)
class ActivityPage:
    """One page of activities and how many match in all."""

    items: list[EmailActivity]
    total: int
    names: dict[RecordRef, RecordSummary]


@dataclass(frozen=True)
class ActivityDetail:
    """One activity with the names of everything it links to and its explain trace."""

    activity: EmailActivity
    names: dict[RecordRef, RecordSummary]
    mailbox_address: str | None
    trace: Explanation | None
    #: The activity's conversation, oldest first (at most ``THREAD_LIMIT`` of ``thread_total``).
    thread: tuple[EmailActivity, ...] = ()
    thread_total: int = 0


@dataclass(frozen=True)
class ConversationPage:
    """Activities of one conversation, oldest first, and how many it has in all."""

    conversation_id: str
    items: list[EmailActivity]
    total: int
    names: dict[RecordRef, RecordSummary]


@dataclass(frozen=True)
class Dashboard:
    """The console's first page: mailboxes by state, email tracked per hour, parked email."""

    mailboxes_by_view: dict[MailboxView, int]
    #: Oldest hour first; each hour's start (UTC) and the activities recorded in it.
    tracked_per_hour: list[tuple[datetime, int]]
    parked: int
    #: Messages on mail servers that sync has seen but not yet ingested, over every folder.
    backlog: int
    #: When a sync worker last reported; None when none is known.
    worker_seen_at: datetime | None = None
    worker_running: bool = False


class QueryService:
    """What pages, the API and the CLI read."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._explain = ExplainService(uow_factory)

    def activities(self, query: ActivityFilter) -> ActivityPage:
        with self._uow() as uow:
            items = uow.activities.search(query)
            total = uow.activities.count(query)
            refs = {p.party for a in items for p in a.parties if p.party}
            refs |= {a.regarding for a in items if a.regarding}
            return ActivityPage(items, total, uow.directory.summaries(refs))

    def export_activities(self, query: ActivityFilter) -> Iterator[EmailActivity]:
        """Every activity ``query`` finds, in its order, a chunk per short transaction."""
        offset = 0
        while True:
            with self._uow() as uow:
                chunk = uow.activities.search(replace(query, limit=EXPORT_CHUNK, offset=offset))
            yield from chunk
            if len(chunk) < EXPORT_CHUNK:
                return
            offset += EXPORT_CHUNK

    def mailbox_addresses(self) -> dict[int, str]:
        """Every mailbox's address by id, for lists that name an activity's mailbox."""
        with self._uow() as uow:
            return {m.id: m.address for m in uow.mailboxes.all() if m.id is not None}

    def activity(self, activity_id: int) -> ActivityDetail:
        with self._uow() as uow:
            activity = uow.activities.get(activity_id)
            if activity is None:
                raise NotFoundError(f"no email activity with id {activity_id}")
            refs = {p.party for p in activity.parties if p.party}
            if activity.regarding:
                refs.add(activity.regarding)
            names = uow.directory.summaries(refs)
            mailbox = uow.mailboxes.get(activity.mailbox_id) if activity.mailbox_id else None
            thread: list[EmailActivity] = []
            total = 0
            if activity.conversation_id is not None:
                thread = uow.activities.conversation(
                    activity.conversation_id, THREAD_LIMIT, parties=False
                )
                total = uow.activities.count_conversation(activity.conversation_id)
        trace = None
        if activity.raw_message_id is not None:
            trace = self._explain.by_raw_id(activity.raw_message_id)
        address = mailbox.address if mailbox else None
        return ActivityDetail(activity, names, address, trace, tuple(thread), total)

    def conversation(
        self, conversation_id: str, limit: int = THREAD_LIMIT, offset: int = 0
    ) -> ConversationPage:
        """One conversation's activities, oldest first; ``NotFoundError`` if it has none."""
        with self._uow() as uow:
            total = uow.activities.count_conversation(conversation_id)
            if total == 0:
                raise NotFoundError(f"no conversation with id {conversation_id}")
            items = uow.activities.conversation(conversation_id, limit, offset)
            refs = {p.party for a in items for p in a.parties if p.party}
            refs |= {a.regarding for a in items if a.regarding}
            names = uow.directory.summaries(refs)
        return ConversationPage(conversation_id, items, total, names)

    def dashboard(self, now: datetime, hours: int = 24) -> Dashboard:
        this_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        first = this_hour - timedelta(hours=hours - 1)
        with self._uow() as uow:
            mailboxes = uow.mailboxes.all()
            created = uow.activities.created_times_since(first)
            parked = len(uow.parked.all())
            backlog = sum(state.backlog for state in uow.sync.states())
            worker_seen_at = uow.sync.worker_last_seen()
        per_hour = Counter(
            t.astimezone(UTC).replace(minute=0, second=0, microsecond=0) for t in created
        )
        return Dashboard(
            {view: sum(in_view(m, view) for m in mailboxes) for view in MailboxView},
            [
                (first + timedelta(hours=h), per_hour[first + timedelta(hours=h)])
                for h in range(hours)
            ],
            parked,
            backlog,
            worker_seen_at,
            worker_running(worker_seen_at, now),
        )

    def mailboxes(self) -> list[Mailbox]:
        with self._uow() as uow:
            return uow.mailboxes.all()

    def sync_state(self) -> dict[int, MailboxSync]:
        """Every mailbox's sync: folder cursors, and what the worker last recorded of each
        folder (mode, last sync, backlog, first-sync progress)."""
        with self._uow() as uow:
            states = uow.sync.states()
            running = self._worker_running(uow)
            tracked = _tracked(uow)
            return {
                mailbox.id: _mailbox_sync(uow, mailbox, states, running, tracked(mailbox.id))
                for mailbox in uow.mailboxes.all()
                if mailbox.id is not None
            }

    def mailbox_sync_state(self, mailbox_id: int) -> MailboxSync | None:
        """One mailbox's sync, as ``sync_state`` gives it; None for no such mailbox."""
        with self._uow() as uow:
            mailbox = uow.mailboxes.get(mailbox_id)
            if mailbox is None:
                return None
            return _mailbox_sync(
                uow,
                mailbox,
                uow.sync.states(),
                self._worker_running(uow),
                _tracked(uow)(mailbox_id),
            )

    def worker_last_seen(self) -> datetime | None:
        """When a sync worker last reported; None when none runs or ever ran."""
        with self._uow() as uow:
            return uow.sync.worker_last_seen()

    def _worker_running(self, uow: UnitOfWork) -> bool:
        return worker_running(uow.sync.worker_last_seen(), self._clock.now())

    def mailbox_by_address(self, address: str) -> Mailbox:
        with self._uow() as uow:
            mailbox = uow.mailboxes.get_by_address(address)
        if mailbox is None:
            raise NotFoundError(f"no mailbox with the address {address!r}")
        return mailbox

    def parked(self) -> list[ParkedEmail]:
        with self._uow() as uow:
            return uow.parked.all()


def _tracked(uow: UnitOfWork) -> Callable[[int], frozenset[str]]:
    """Each mailbox's tracked folders, read once for every mailbox."""
    config, rules = uow.settings.get(), uow.sync.tracked_folders()
    return lambda mailbox_id: tracked_folders(config, rules, mailbox_id)


def _mailbox_sync(
    uow: UnitOfWork,
    mailbox: Mailbox,
    states: list[FolderSyncState],
    worker_running: bool,
    tracked: frozenset[str],
) -> MailboxSync:
    assert mailbox.id is not None  # noqa: S101 - stored mailboxes have ids
    return mailbox_sync(
        uow.cursors.for_mailbox(mailbox.id),
        [s for s in states if s.mailbox_id == mailbox.id],
        syncing=mailbox.syncs_incoming,
        worker_running=worker_running,
        tracked=tracked,
    )
