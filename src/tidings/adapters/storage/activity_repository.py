"""Email activities with their parties and attachments, and the correlation queries."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.access_conditions import activity_condition
from tidings.adapters.storage.among import among
from tidings.adapters.storage.chunking import chunks
from tidings.adapters.storage.grid_query import sorted_by
from tidings.adapters.storage.mapping import ref_columns, ref_from
from tidings.domain.access_levels import Scope
from tidings.domain.activity import (
    ActivityParty,
    ActivityStatus,
    Attachment,
    CorrelationMethod,
    Direction,
    EmailActivity,
    ParticipationRole,
)
from tidings.domain.conversation import starting_conversation
from tidings.domain.errors import ConflictError
from tidings.domain.records import RecordKind, RecordRef, normalize_address
from tidings.domain.stored import ActivityFilter
from tidings.domain.tracking import Correlation

_A = t.email_activities.c
_P = t.activity_parties.c
#: When the email arrived, or for email written here (never received), when it was made.
#: When an email was received, or created for one never received: never empty, and read
#: in this order through an index of its own (``ix_email_activities_received``).
_RECEIVED = func.coalesce(_A.received_at, _A.created_at)
#: What each sortable column of the activity grid sorts by.
_SORT: dict[str, Any] = {
    "subject": func.lower(_A.subject),
    "sender": (
        select(func.min(_P.address))
        .where(_P.activity_id == _A.id, _P.role == ParticipationRole.FROM.value)
        .scalar_subquery()
    ),
    "direction": _A.direction,
    "status": _A.status,
    "mailbox": (
        select(t.mailboxes.c.address).where(t.mailboxes.c.id == _A.mailbox_id).scalar_subquery()
    ),
    "received": _RECEIVED,
}
#: Sort columns that always hold a value: sorted without NULLS LAST, which an index's order
#: cannot give on PostgreSQL.
_NEVER_EMPTY = frozenset({"received", "direction", "status"})


# Statements of the ingest hot path, built once: building a statement costs more than
# running it on SQLite.
_INSERT_ACTIVITY = insert(t.email_activities)
_INSERT_ACTIVITY_RETURNING = _INSERT_ACTIVITY.returning(_A.id, sort_by_parameter_order=True)
_INSERT_PARTY = insert(t.activity_parties)
_INSERT_ATTACHMENT = insert(t.attachments)
_UPDATE_CONTENT = (
    update(t.email_activities)
    .where(_A.id == bindparam("key"))
    .values(text_body=bindparam("text_body"), html_body=bindparam("html_body"))
)


@functools.cache
def _by_identity(dialect: str) -> Any:
    """Each activity's id and owner, for the identities given."""
    return select(_A.id, _A.identity, _A.owner_kind, _A.owner_id).where(
        among(_A.identity, "values", dialect)
    )


@functools.cache
def _activities_where_in(column_name: str, dialect: str) -> Any:
    """Activities whose column ``column_name`` is one of the given values, oldest first."""
    column = _A[column_name]
    return (
        select(column.label("key"), _A.id, _A.regarding_kind, _A.regarding_id, _A.conversation_id)
        .where(among(column, "values", dialect))
        .order_by(_A.id)
    )


_UPDATE_MATCHED = (
    update(t.email_activities)
    .where(_A.id == bindparam("key"))
    .values(matched_activity_id=bindparam("matched"))
)


class SqlActivityRepository:
    """Tracked email."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(self, activity: EmailActivity, identity: str) -> int:
        _in_a_conversation(activity, identity)
        try:
            with self._conn.begin_nested():
                result = self._conn.execute(_INSERT_ACTIVITY, _activity_columns(activity, identity))
        except IntegrityError as error:
            raise ConflictError(
                f"an activity for {identity} and {activity.owner} exists"
            ) from error
        activity.id = int(result.inserted_primary_key[0])  # type: ignore[index]
        if activity.parties:
            self._conn.execute(
                _INSERT_PARTY, [_party_columns(activity.id, p) for p in activity.parties]
            )
        if activity.attachments:
            self._insert_attachments(activity.id, activity.attachments)
        return activity.id

    def add_many(self, activities: Sequence[tuple[EmailActivity, str]]) -> None:
        """Insert activities with their parties and attachments, a statement per table.

        Each activity is given its id. A second activity for an identity and owner raises
        ``ConflictError``; the caller's savepoint undoes the statement.
        """
        if not activities:
            return
        for activity, identity in activities:
            _in_a_conversation(activity, identity)
        rows = [_activity_columns(a, i) for a, i in activities]
        returning = self._conn.dialect.name == "postgresql"
        try:
            if returning:  # the ids in the order given, with the insert
                result = self._conn.execute(_INSERT_ACTIVITY_RETURNING, rows)
                for (activity, _), new_id in zip(activities, result.scalars(), strict=True):
                    activity.id = int(new_id)
            else:
                self._conn.execute(_INSERT_ACTIVITY, rows)
        except IntegrityError as error:
            raise ConflictError("an activity for one of these emails and owners exists") from error
        if not returning:
            # In input order SQLAlchemy would insert row by row on SQLite. Identity and
            # owner are unique, so they name each new row.
            ids = {
                (row.identity, row.owner_kind, row.owner_id): int(row.id)
                for row in self._in_chunks(_by_identity, {i for _, i in activities})
            }
            for activity, identity in activities:
                activity.id = ids[(identity, activity.owner.kind.value, activity.owner.id)]
        parties = [_party_columns(a.id, p) for a, _ in activities for p in a.parties]
        if parties:
            self._conn.execute(_INSERT_PARTY, parties)
        attachments = [_attachment_columns(a.id, x) for a, _ in activities for x in a.attachments]
        if attachments:
            self._conn.execute(_INSERT_ATTACHMENT, attachments)

    def set_matched(self, pairs: Sequence[tuple[int, int]]) -> None:
        """Record, for each (activity, matched activity) pair, the activity it answers."""
        if pairs:
            self._conn.execute(_UPDATE_MATCHED, [{"key": a, "matched": m} for a, m in pairs])

    def conversation(
        self,
        conversation_id: str,
        limit: int,
        offset: int = 0,
        *,
        parties: bool = True,
        scope: Scope | None = None,
    ) -> list[EmailActivity]:
        """The activities of one conversation ``scope`` reaches, oldest first, with their
        parties if asked."""
        statement = (
            within(select(t.email_activities), scope)
            .where(_A.conversation_id == conversation_id)
            .order_by(func.coalesce(_A.received_at, _A.created_at), _A.id)
            .limit(limit)
            .offset(offset)
        )
        activities = [_activity(row) for row in self._conn.execute(statement).mappings()]
        if parties:
            self._with_parties(activities)
        return activities

    def count_conversation(self, conversation_id: str, *, scope: Scope | None = None) -> int:
        statement = within(
            select(func.count())
            .select_from(t.email_activities)
            .where(_A.conversation_id == conversation_id),
            scope,
        )
        return int(self._conn.execute(statement).scalar_one())

    def set_content(
        self,
        activity_id: int,
        text_body: str,
        html_body: str | None,
        attachments: Sequence[Attachment],
    ) -> None:
        self._conn.execute(
            _UPDATE_CONTENT, {"key": activity_id, "text_body": text_body, "html_body": html_body}
        )
        if attachments:
            self._insert_attachments(activity_id, attachments)

    def delete(self, activity_id: int) -> None:
        self._conn.execute(delete(t.email_activities).where(_A.id == activity_id))
        # What answered it keeps its conversation but no longer names a match that is gone.
        self._conn.execute(
            update(t.email_activities)
            .where(_A.matched_activity_id == activity_id)
            .values(matched_activity_id=None)
        )

    def _insert_attachments(self, activity_id: int, attachments: Sequence[Attachment]) -> None:
        self._conn.execute(
            _INSERT_ATTACHMENT, [_attachment_columns(activity_id, a) for a in attachments]
        )

    def get(self, activity_id: int, *, scope: Scope | None = None) -> EmailActivity | None:
        """The activity, if ``scope`` reaches it (``None``: the server's own reading)."""
        statement = within(select(t.email_activities).where(_A.id == activity_id), scope)
        row = self._conn.execute(statement).mappings().first()
        if row is None:
            return None
        activity = _activity(row)
        activity.parties = self._parties(activity_id)
        activity.attachments = self._attachments(activity_id)
        return activity

    def search(self, query: ActivityFilter, *, scope: Scope | None = None) -> list[EmailActivity]:
        statement = (
            _sorted(_filtered(within(select(t.email_activities), scope), query), query)
            .limit(query.limit)
            .offset(query.offset)
        )
        activities = [_activity(row) for row in self._conn.execute(statement).mappings()]
        return self._with_parties(activities)

    def ordered_ids(self, query: ActivityFilter, *, scope: Scope | None = None) -> list[int]:
        """The ids of every activity ``query`` finds that ``scope`` reaches, in its order
        (its limit and offset aside): one statement that reads no email's content."""
        statement = _sorted(_filtered(within(select(_A.id), scope), query), query)
        return [int(i) for i in self._conn.execute(statement).scalars()]

    def by_ids(
        self, activity_ids: Sequence[int], *, scope: Scope | None = None
    ) -> list[EmailActivity]:
        """These activities with their parties, in the order given; those gone since, or
        that ``scope`` no longer reaches, left out."""
        found: dict[int, EmailActivity] = {}
        for chunk in chunks(activity_ids):
            statement = within(select(t.email_activities).where(_A.id.in_(chunk)), scope)
            for row in self._conn.execute(statement).mappings():
                activity = _activity(row)
                found[row["id"]] = activity
        return self._with_parties([found[i] for i in activity_ids if i in found])

    def _with_parties(self, activities: list[EmailActivity]) -> list[EmailActivity]:
        """``activities``, each given its parties: one statement for them all."""
        by_activity: dict[int, list[ActivityParty]] = {a.id: [] for a in activities}  # type: ignore[misc]
        p = t.activity_parties.c
        for chunk in chunks(list(by_activity)):
            rows = self._conn.execute(
                select(t.activity_parties).where(p.activity_id.in_(chunk)).order_by(p.id)
            ).mappings()
            for r in rows:
                by_activity[r["activity_id"]].append(_party(r))
        for activity in activities:
            activity.parties = by_activity[activity.id]  # type: ignore[index]
        return activities

    def count(self, query: ActivityFilter, *, scope: Scope | None = None) -> int:
        statement = _filtered(
            within(select(func.count()).select_from(t.email_activities), scope), query
        )
        return int(self._conn.execute(statement).scalar_one())

    def ids_within(self, activity_ids: Iterable[int], scope: Scope) -> set[int]:
        """Which of ``activity_ids`` exist and ``scope`` reaches."""
        found: set[int] = set()
        for chunk in chunks(sorted(set(activity_ids))):
            statement = within(select(_A.id).where(_A.id.in_(chunk)), scope)
            found.update(int(i) for i in self._conn.execute(statement).scalars())
        return found

    def owners_by_identity(self, identities: Iterable[str]) -> dict[str, set[RecordRef]]:
        found: dict[str, set[RecordRef]] = {}
        for row in self._in_chunks(_by_identity, identities):
            found.setdefault(row.identity, set()).add(
                RecordRef(RecordKind(row.owner_kind), row.owner_id)
            )
        return found

    def correlations_by_message_id(self, message_ids: Iterable[str]) -> dict[str, Correlation]:
        """For each Message-ID, the first activity recorded with it."""
        rows = self._in_chunks(functools.partial(_activities_where_in, "message_id"), message_ids)
        found: dict[str, Correlation] = {}
        for row in rows:
            found.setdefault(row.key, _correlation(CorrelationMethod.IN_REPLY_TO, row))
        return found

    def correlations_by_token(self, tokens: Iterable[str]) -> dict[str, Correlation]:
        """For each tracking token, the newest activity sent with it."""
        return self._newest(
            functools.partial(_activities_where_in, "tracking_token"),
            tokens,
            CorrelationMethod.TRACKING_TOKEN,
        )

    def correlations_by_conversation(self, ids: Iterable[str]) -> dict[str, Correlation]:
        """For each Outlook conversation index, its newest activity."""
        return self._newest(
            functools.partial(_activities_where_in, "conversation_index"),
            ids,
            CorrelationMethod.CONVERSATION_INDEX,
        )

    def _newest(
        self, statement: Callable[[str], Any], values: Iterable[str], method: CorrelationMethod
    ) -> dict[str, Correlation]:
        # Each key is in one chunk, its rows in ascending order: the newest wins.
        return {row.key: _correlation(method, row) for row in self._in_chunks(statement, values)}

    def _in_chunks(self, statement: Callable[[str], Any], values: Iterable[str]) -> Iterator[Any]:
        """The rows of ``statement`` (for this database) for ``values`` bound a chunk at a
        time; a value's rows all come from one chunk, in the statement's order."""
        built = statement(self._conn.dialect.name)
        for chunk in chunks(sorted(set(values))):
            yield from self._conn.execute(built, {"values": chunk})

    def correlate_subject(
        self, subject_key: str, addresses: set[str], min_shared: int
    ) -> Correlation | None:
        p = t.activity_parties.c
        shared = func.count(func.distinct(p.address))
        groups = list(chunks(sorted(addresses)))
        if len(groups) <= 1:
            row = self._conn.execute(
                select(_A.id, _A.regarding_kind, _A.regarding_id, _A.conversation_id)
                .join(t.activity_parties, p.activity_id == _A.id)
                .where(_A.subject_key == subject_key, p.address.in_(sorted(addresses)))
                .group_by(_A.id, _A.regarding_kind, _A.regarding_id, _A.conversation_id)
                .having(shared >= min_shared)
                .order_by(_A.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _correlation(CorrelationMethod.SMART_MATCHING, row)
        # More addresses than one statement binds: the chunks share no address, so each
        # activity's shared addresses add up across them.
        counts: dict[int, int] = {}
        found: dict[int, Any] = {}
        for group in groups:
            for row in self._conn.execute(
                select(
                    _A.id,
                    _A.regarding_kind,
                    _A.regarding_id,
                    _A.conversation_id,
                    shared.label("shared"),
                )
                .join(t.activity_parties, p.activity_id == _A.id)
                .where(_A.subject_key == subject_key, p.address.in_(group))
                .group_by(_A.id, _A.regarding_kind, _A.regarding_id, _A.conversation_id)
            ):
                counts[row.id] = counts.get(row.id, 0) + int(row.shared)
                found[row.id] = row
        matched = [ident for ident, count in counts.items() if count >= min_shared]
        if not matched:
            return None
        return _correlation(CorrelationMethod.SMART_MATCHING, found[max(matched)])

    def _parties(self, activity_id: int) -> list[ActivityParty]:
        p = t.activity_parties.c
        rows = self._conn.execute(
            select(t.activity_parties).where(p.activity_id == activity_id).order_by(p.id)
        ).mappings()
        return [_party(r) for r in rows]

    def _attachments(self, activity_id: int) -> list[Attachment]:
        a = t.attachments.c
        rows = self._conn.execute(
            select(a.filename, a.content_type, a.size, a.blocked_reason, a.content_id)
            .where(a.activity_id == activity_id)
            .order_by(a.id)
        ).mappings()
        return [Attachment(**row) for row in rows]

    def attachment(self, activity_id: int, number: int) -> Attachment | None:
        """The ``number``-th attachment of an activity (from 1, as ``get`` lists them),
        with its content."""
        a = t.attachments.c
        row = (
            self._conn.execute(
                select(
                    a.filename, a.content_type, a.size, a.blocked_reason, a.content_id, a.content
                )
                .where(a.activity_id == activity_id)
                .order_by(a.id)
                .offset(number - 1)
                .limit(1)
            )
            .mappings()
            .first()
        )
        return Attachment(**row) if row is not None else None

    def created_times_since(self, since: datetime, *, scope: Scope | None = None) -> list[datetime]:
        """When each activity ``scope`` reaches recorded since ``since`` was created: the
        dashboard's chart."""
        statement = within(select(_A.created_at).where(_A.created_at >= since), scope)
        return [row.created_at for row in self._conn.execute(statement)]

    def set_regarding(self, activity_id: int, regarding: RecordRef | None) -> None:
        self._conn.execute(
            update(t.email_activities)
            .where(_A.id == activity_id)
            .values(ref_columns("regarding", regarding))
        )


def _party(row: Any) -> ActivityParty:
    return ActivityParty(
        ParticipationRole(row["role"]),
        row["address"],
        row["name"],
        ref_from(row["party_kind"], row["party_id"]),
    )


def _sorted(statement: Select[Any], query: ActivityFilter) -> Select[Any]:
    return sorted_by(statement, _SORT, query.sort, _A.id, never_empty=_NEVER_EMPTY)


def within(statement: Select[Any], scope: Scope | None) -> Select[Any]:
    """``statement`` limited to the activities ``scope`` reaches: one condition, composable
    with any filter, sort or page."""
    condition = None if scope is None else activity_condition(scope)
    return statement if condition is None else statement.where(condition)


def _filtered(statement: Select[Any], query: ActivityFilter) -> Select[Any]:
    if query.mailbox_id is not None:
        statement = statement.where(_A.mailbox_id == query.mailbox_id)
    if query.conversation_id is not None:
        statement = statement.where(_A.conversation_id == query.conversation_id)
    if query.regarding is not None:
        statement = statement.where(
            _A.regarding_kind == query.regarding.kind.value,
            _A.regarding_id == query.regarding.id,
        )
    p = t.activity_parties.c
    if query.party is not None:
        statement = statement.where(
            _A.id.in_(
                select(p.activity_id).where(
                    p.party_kind == query.party.kind.value, p.party_id == query.party.id
                )
            )
        )
    if query.party_address is not None:
        address = normalize_address(query.party_address)
        statement = statement.where(_A.id.in_(select(p.activity_id).where(p.address == address)))
    statement = _narrowed(statement, query)
    if query.text and query.text.strip():
        pattern = f"%{_escape_like(query.text.strip().lower())}%"
        in_parties = select(p.activity_id).where(
            or_(
                p.address.like(pattern, escape="\\"),
                func.lower(p.name).like(pattern, escape="\\"),
            )
        )
        statement = statement.where(
            or_(func.lower(_A.subject).like(pattern, escape="\\"), _A.id.in_(in_parties))
        )
    return statement


def _narrowed(statement: Select[Any], query: ActivityFilter) -> Select[Any]:
    """The grid's own filters: direction, status, owner and the days received."""
    if query.direction is not None:
        statement = statement.where(_A.direction == query.direction.value)
    if query.status is not None:
        statement = statement.where(_A.status == query.status.value)
    if query.owner is not None:
        statement = statement.where(
            _A.owner_kind == query.owner.kind.value, _A.owner_id == query.owner.id
        )
    if query.received.start is not None:
        start = datetime.combine(query.received.start, time.min, UTC)
        statement = statement.where(start <= _RECEIVED)
    if query.received.end is not None:
        end = datetime.combine(query.received.end + timedelta(days=1), time.min, UTC)
        statement = statement.where(end > _RECEIVED)
    if query.created_since is not None:
        statement = statement.where(_A.created_at >= query.created_since)
    return statement


def _escape_like(text: str) -> str:
    """``text`` matched literally by LIKE: its own % and _ are not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _correlation(method: CorrelationMethod, row: Any) -> Correlation:
    regarding = ref_from(row.regarding_kind, row.regarding_id)
    return Correlation(method, row.id, regarding, row.conversation_id)


def _activity_columns(activity: EmailActivity, identity: str) -> dict[str, Any]:
    return {
        "owner_kind": activity.owner.kind.value,
        "owner_id": activity.owner.id,
        "mailbox_id": activity.mailbox_id,
        "identity": identity,
        "message_id": activity.message_id,
        "subject": activity.subject,
        "direction": activity.direction.value,
        "status": activity.status.value,
        "in_reply_to": activity.in_reply_to,
        "reference_ids": " ".join(activity.references) or None,
        "conversation_id": activity.conversation_id,
        "conversation_index": activity.conversation_index,
        "subject_key": activity.subject_key,
        "tracking_token": activity.tracking_token,
        **ref_columns("regarding", activity.regarding),
        "correlation": activity.correlation.value,
        "matched_activity_id": activity.matched_activity_id,
        "text_body": activity.text_body,
        "html_body": activity.html_body,
        "raw_message_id": activity.raw_message_id,
        "received_at": activity.received_at,
        "created_at": activity.created_at,
    }


def _in_a_conversation(activity: EmailActivity, identity: str) -> None:
    # Every activity belongs to a conversation, even one built by code that sets none.
    if activity.conversation_id is None:
        activity.conversation_id = starting_conversation(identity)


def _party_columns(activity_id: int | None, party: ActivityParty) -> dict[str, Any]:
    return {
        "activity_id": activity_id,
        "role": party.role.value,
        "address": party.address,
        "name": party.name[:200],
        **ref_columns("party", party.party),
    }


def _attachment_columns(activity_id: int | None, attachment: Attachment) -> dict[str, Any]:
    return {
        "activity_id": activity_id,
        "filename": attachment.filename[:200],
        "content_type": attachment.content_type[:255],
        "size": attachment.size,
        "blocked_reason": attachment.blocked_reason,
        "content_id": attachment.content_id,
        "content": attachment.content,
    }


def _activity(row: Any) -> EmailActivity:
    return EmailActivity(
        owner=RecordRef(RecordKind(row["owner_kind"]), row["owner_id"]),
        mailbox_id=row["mailbox_id"],
        subject=row["subject"],
        direction=Direction(row["direction"]),
        status=ActivityStatus(row["status"]),
        message_id=row["message_id"],
        received_at=row["received_at"],
        text_body=row["text_body"],
        html_body=row["html_body"],
        in_reply_to=row["in_reply_to"],
        references=tuple((row["reference_ids"] or "").split()),
        conversation_id=row["conversation_id"],
        conversation_index=row["conversation_index"],
        subject_key=row["subject_key"],
        tracking_token=row["tracking_token"],
        regarding=ref_from(row["regarding_kind"], row["regarding_id"]),
        correlation=CorrelationMethod(row["correlation"]),
        matched_activity_id=row["matched_activity_id"],
        raw_message_id=row["raw_message_id"],
        created_at=row["created_at"],
        id=row["id"],
    )
