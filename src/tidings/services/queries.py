"""Read-side use cases: activities with their parties and trace, mailboxes, parked email."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from tidings.domain.access_levels import Scope
from tidings.domain.activity import Attachment, EmailActivity
from tidings.domain.attachments import download_refusal
from tidings.domain.errors import NotAuthorizedError, NotFoundError
from tidings.domain.grid import EXPORT_CHUNK
from tidings.domain.holding import Holder
from tidings.domain.mailbox import Mailbox
from tidings.domain.mailbox_views import MailboxView, in_view
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordRef, RecordSummary
from tidings.domain.stored import ActivityFilter, ParkedEmail
from tidings.domain.sync import (
    WORKER_SILENT_AFTER,
    FolderSyncState,
    MailboxSync,
    mailbox_sync,
    worker_running,
)
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
    """What pages, the API and the CLI read, each within the caller's access levels: the
    caller's scope goes into the storage query, so what is out of reach is never loaded
    and reads as not found. Without a caller, the server reads for itself: everything."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        *,
        shared_mailboxes: bool = False,
        export_chunk: int = EXPORT_CHUNK,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        #: Activities an export reads a transaction.
        self._export_chunk = export_chunk
        #: Workers share the mailboxes (PostgreSQL): each is held by the worker stored.
        #: Otherwise the one worker process syncs them all.
        self._shared = shared_mailboxes
        self._explain = ExplainService(uow_factory)

    def activities(self, query: ActivityFilter, caller: Caller | None = None) -> ActivityPage:
        scope = _scope(caller, Privilege.READ_ACTIVITIES)
        with self._uow() as uow:
            items = uow.activities.search(query, scope=scope)
            total = uow.activities.count(query, scope=scope)
            refs = {p.party for a in items for p in a.parties if p.party}
            refs |= {a.regarding for a in items if a.regarding}
            return ActivityPage(items, total, uow.directory.summaries(refs))

    def export_activities(
        self, query: ActivityFilter, caller: Caller | None = None
    ) -> Iterator[EmailActivity]:
        """Every activity ``query`` finds that the caller may read, in its order, a chunk
        per short transaction."""
        return self._export(query, _scope(caller, Privilege.READ_ACTIVITIES))

    def _export(self, query: ActivityFilter, scope: Scope | None) -> Iterator[EmailActivity]:
        # The ids in order first, then the activities a chunk of ids at a time: pages by
        # offset would read again every row before each chunk, an export of n activities
        # costing n²/chunk rows. One lists only ids, within the caller's reach; each chunk
        # is found by its ids alone (through the reach again, each chunk would cost a pass
        # over all of it for every activity on PostgreSQL).
        with self._uow() as uow:
            ids = array("q", uow.activities.ordered_ids(query, scope=scope))
        size = self._export_chunk
        for start in range(0, len(ids), size):
            with self._uow() as uow:
                chunk = uow.activities.by_ids(ids[start : start + size])
            yield from chunk

    def mailbox_addresses(self, caller: Caller | None = None) -> dict[int, str]:
        """The address by id of every mailbox the caller may read, for lists that name an
        activity's mailbox."""
        scope = _reach(caller, Privilege.READ_MAILBOXES)
        with self._uow() as uow:
            return {m.id: m.address for m in uow.mailboxes.all(scope=scope) if m.id is not None}

    def activity(self, activity_id: int, caller: Caller | None = None) -> ActivityDetail:
        """One activity the caller may read; ``NotFoundError`` for any other."""
        scope = _scope(caller, Privilege.READ_ACTIVITIES)
        with self._uow() as uow:
            activity = uow.activities.get(activity_id, scope=scope)
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
                    activity.conversation_id, THREAD_LIMIT, parties=False, scope=scope
                )
                total = uow.activities.count_conversation(activity.conversation_id, scope=scope)
        trace = None
        if activity.raw_message_id is not None:
            trace = self._explain.by_raw_id(activity.raw_message_id, scope)
        address = mailbox.address if mailbox else None
        return ActivityDetail(activity, names, address, trace, tuple(thread), total)

    def blocked_extensions(self) -> frozenset[str]:
        """The attachment extensions the organization blocks, as they are now."""
        with self._uow() as uow:
            return frozenset(uow.settings.get().blocked_extensions)

    def attachment(self, activity_id: int, number: int, caller: Caller | None = None) -> Attachment:
        """The ``number``-th attachment of an activity the caller may read, with its content,
        for download.

        Missing or out of reach: ``NotFoundError``; blocked (when kept, or by the settings
        now): ``NotAuthorizedError`` with the reason, and never its content.
        """
        scope = _scope(caller, Privilege.READ_ACTIVITIES)
        with self._uow() as uow:
            if uow.activities.get(activity_id, scope=scope) is None:
                raise NotFoundError(f"no email activity with id {activity_id}")
            found = uow.activities.attachment(activity_id, number)
            blocked = frozenset(uow.settings.get().blocked_extensions)
        if found is None:
            raise NotFoundError(f"email activity {activity_id} has no attachment {number}")
        refusal = download_refusal(found, blocked)
        if refusal is not None:
            raise NotAuthorizedError(f"the attachment is not served: {refusal}")
        if found.content is None:
            raise NotFoundError("the attachment's content was not kept")
        return found

    def conversation(
        self,
        conversation_id: str,
        limit: int = THREAD_LIMIT,
        offset: int = 0,
        caller: Caller | None = None,
    ) -> ConversationPage:
        """The activities of one conversation the caller may read, oldest first;
        ``NotFoundError`` if it has none."""
        scope = _scope(caller, Privilege.READ_ACTIVITIES)
        with self._uow() as uow:
            total = uow.activities.count_conversation(conversation_id, scope=scope)
            if total == 0:
                raise NotFoundError(f"no conversation with id {conversation_id}")
            items = uow.activities.conversation(conversation_id, limit, offset, scope=scope)
            refs = {p.party for a in items for p in a.parties if p.party}
            refs |= {a.regarding for a in items if a.regarding}
            names = uow.directory.summaries(refs)
        return ConversationPage(conversation_id, items, total, names)

    def dashboard(self, now: datetime, hours: int = 24, caller: Caller | None = None) -> Dashboard:
        """Figures over what the caller may read: mailboxes by state, parked email and email
        waiting on the servers by *read mailboxes*, email tracked per hour by *read
        activities*. Whether a sync worker runs is the server's own state, told to all."""
        this_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        first = this_hour - timedelta(hours=hours - 1)
        with self._uow() as uow:
            mailboxes = uow.mailboxes.all(scope=_reach(caller, Privilege.READ_MAILBOXES))
            created = uow.activities.created_times_since(
                first, scope=_reach(caller, Privilege.READ_ACTIVITIES)
            )
            parked = len(uow.parked.all(scope=_reach(caller, Privilege.READ_MAILBOXES)))
            # Waiting email is counted per folder of a mailbox: only those of the mailboxes
            # the caller may read, as the tiles beside it.
            reached = {m.id for m in mailboxes}
            backlog = sum(s.backlog for s in uow.sync.states() if s.mailbox_id in reached)
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

    def mailboxes(self, caller: Caller | None = None) -> list[Mailbox]:
        """The mailboxes the caller may read."""
        scope = _scope(caller, Privilege.READ_MAILBOXES)
        with self._uow() as uow:
            return uow.mailboxes.all(scope=scope)

    def tests_scheduled(self, mailbox_ids: Collection[int]) -> set[int]:
        """Those of these mailboxes whose queued Test & Enable has not yet run (PostgreSQL)."""
        with self._uow() as uow:
            return uow.jobs.tests_pending(mailbox_ids)

    def sync_state(self, caller: Caller | None = None) -> dict[int, MailboxSync]:
        """The sync of every mailbox the caller may read: folder cursors, and what the
        worker last recorded of each folder (mode, last sync, backlog, first-sync progress)."""
        scope = _scope(caller, Privilege.READ_MAILBOXES)
        with self._uow() as uow:
            states = uow.sync.states()
            running = self._worker_running(uow)
            tracked = _tracked(uow)
            held_by = self._holders(uow)
            return {
                mailbox.id: replace(
                    _mailbox_sync(uow, mailbox, states, running, tracked(mailbox.id)),
                    held_by=held_by(mailbox),
                )
                for mailbox in uow.mailboxes.all(scope=scope)
                if mailbox.id is not None
            }

    def mailbox_sync_state(
        self, mailbox_id: int, caller: Caller | None = None
    ) -> MailboxSync | None:
        """One mailbox's sync, as ``sync_state`` gives it; None for no such mailbox or
        one the caller may not read."""
        scope = _scope(caller, Privilege.READ_MAILBOXES)
        with self._uow() as uow:
            mailbox = uow.mailboxes.get(mailbox_id, scope=scope)
            if mailbox is None:
                return None
            sync = _mailbox_sync(
                uow,
                mailbox,
                uow.sync.states(),
                self._worker_running(uow),
                _tracked(uow)(mailbox_id),
            )
            return replace(sync, held_by=self._holders(uow)(mailbox))

    def worker_last_seen(self) -> datetime | None:
        """When a sync worker last reported; None when none runs or ever ran."""
        with self._uow() as uow:
            return uow.sync.worker_last_seen()

    def _holders(self, uow: UnitOfWork) -> Callable[[Mailbox], Holder | None]:
        """Who syncs each mailbox: where workers share them, the one holding it; where one
        worker syncs them all (SQLite), that worker."""
        holders = uow.sync.holders() if self._shared else {}
        live = (
            [] if self._shared else uow.sync.live_workers(self._clock.now() - WORKER_SILENT_AFTER)
        )
        newest = max(live, key=lambda beat: beat.seen_at, default=None)
        lone = Holder(f"{newest.host}:{newest.pid}", newest.started_at) if newest else None

        def held_by(mailbox: Mailbox) -> Holder | None:
            if mailbox.id in holders:
                return holders[mailbox.id]
            return lone if mailbox.syncs_incoming else None

        return held_by

    def _worker_running(self, uow: UnitOfWork) -> bool:
        return worker_running(uow.sync.worker_last_seen(), self._clock.now())

    def mailbox_by_address(self, address: str, caller: Caller | None = None) -> Mailbox:
        """The mailbox with this address, if the caller may read its activities or the
        mailbox itself; ``NotFoundError`` otherwise."""
        with self._uow() as uow:
            mailbox = uow.mailboxes.get_by_address(address)
            reachable = (
                mailbox is not None
                and mailbox.id is not None
                and (
                    caller is None
                    or any(
                        uow.mailboxes.get(mailbox.id, scope=caller.reach(privilege)) is not None
                        for privilege in (Privilege.READ_MAILBOXES, Privilege.READ_ACTIVITIES)
                    )
                )
            )
        if mailbox is None or not reachable:
            raise NotFoundError(f"no mailbox with the address {address!r}")
        return mailbox

    def parked(self, caller: Caller | None = None) -> list[ParkedEmail]:
        """Parked email of the mailboxes the caller may read."""
        scope = _scope(caller, Privilege.READ_MAILBOXES)
        with self._uow() as uow:
            return uow.parked.all(scope=scope)


def _scope(caller: Caller | None, privilege: Privilege) -> Scope | None:
    """The caller's scope for ``privilege`` (refused when not held); ``None`` — everything —
    for the server's own reading (sync, the operator's command line)."""
    return None if caller is None else caller.scope(privilege)


def _reach(caller: Caller | None, privilege: Privilege) -> Scope | None:
    """As ``_scope``, but a privilege not held reaches nothing instead of being refused."""
    return None if caller is None else caller.reach(privilege)


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
