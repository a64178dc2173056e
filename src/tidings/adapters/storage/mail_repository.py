"""The raw message store, tracking decisions and parked emails."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.access_conditions import mailbox_condition, raw_message_condition
from tidings.adapters.storage.chunking import chunks
from tidings.adapters.storage.grouped_select import by_groups, grouped_params
from tidings.adapters.storage.mapping import ref_from
from tidings.domain.access_levels import Scope
from tidings.domain.activity import CorrelationMethod
from tidings.domain.errors import NotFoundError
from tidings.domain.message import MessageOrigin, email_identity
from tidings.domain.stored import NewRaw, ParkedEmail, StoredDecision, StoredRaw
from tidings.domain.tracking import (
    Correlation,
    Outcome,
    Reason,
    TrackingDecision,
    Verdict,
)

# Statements of the ingest hot path, built once: building a statement costs more than
# running it on SQLite.
# On PostgreSQL the ids come back with the insert, in the order given, in one statement.
# SQLite would insert row by row to keep that order: there a plain executemany and one
# query for the ids is one statement each.
_INSERT_RAW = insert(t.raw_messages)
_INSERT_RAW_RETURNING = _INSERT_RAW.returning(t.raw_messages.c.id, sort_by_parameter_order=True)
_O = t.raw_message_origins.c


_FOLDER = ("mailbox_id", "folder", "uidvalidity")
_RAW_BY_UIDS = (t.raw_messages, ("id", "uid", *_FOLDER), _FOLDER, "uid")
_ORIGINS_BY_UIDS = (t.raw_message_origins, ("raw_message_id", "uid", *_FOLDER), _FOLDER, "uid")
_RAW_BY_CONTENT = (
    t.raw_messages,
    ("id", "mailbox_id", "folder", "content_hash", "message_id"),
    ("mailbox_id", "folder"),
    "content_hash",
)
_INSERT_ORIGIN = insert(t.raw_message_origins)
_INSERT_DECISION = insert(t.tracking_decisions)
_DELETE_PARKED_BY_RAW = delete(t.parked_emails).where(
    t.parked_emails.c.raw_message_id == bindparam("raw_message_id")
)
#: The first key of every lock on an email's identity (PostgreSQL's two-key advisory locks):
#: keeps them apart from any other advisory lock taken in the same database.
_IDENTITY_LOCKS = 0x74696469
# In the order given: every transaction takes its locks in ascending order, so none waits
# for another that waits for it.
_HOLD_IDENTITIES = text(
    "SELECT pg_advisory_xact_lock(:space, key) FROM unnest(CAST(:keys AS integer[]))"
    " WITH ORDINALITY AS held(key, n) ORDER BY n"
)


class SqlRawMessageRepository:
    """Raw bytes exactly as fetched, keyed by where they came from."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def hold_identities(self, identities: Sequence[str]) -> None:
        """Until this transaction ends, no other transaction decides about email of these
        identities: what it reads next (activities, copies, decisions) stays true until it
        commits. Two workers ingesting one email from two mailboxes at once, or a move seen
        from both of its folders, are then judged one after the other, as on SQLite.

        PostgreSQL: transaction-scoped advisory locks (READ COMMITTED lets each statement
        see what committed before it, so reads after the lock see the other's writes).
        SQLite needs nothing: each transaction takes the database's write lock at BEGIN.
        """
        if self._conn.dialect.name != "postgresql" or not identities:
            return
        keys = sorted({_identity_key(identity) for identity in identities})
        self._conn.execute(_HOLD_IDENTITIES, {"space": _IDENTITY_LOCKS, "keys": keys})

    def identities_of(self, raw_message_ids: Sequence[int]) -> list[str]:
        """The identity (Message-ID, else content hash) of each of these kept emails."""
        c = t.raw_messages.c
        found: list[str] = []
        for part in chunks(sorted(set(raw_message_ids))):
            rows = self._conn.execute(
                select(c.message_id, c.content_hash).where(c.id.in_(part))
            ).all()
            found.extend(email_identity(message_id, digest) for message_id, digest in rows)
        return found

    def add_many(self, items: Sequence[NewRaw]) -> list[int]:
        """Keep many raw emails in one statement; their ids in the order given."""
        if not items:
            return []
        rows = [
            {
                "mailbox_id": item.origin.mailbox_id,
                "folder": item.origin.folder,
                "uidvalidity": item.origin.uidvalidity,
                "uid": item.origin.uid,
                "message_id": item.message_id,
                "content_hash": item.content_hash,
                "size": len(item.raw),
                "raw": item.raw,
                "stored_at": item.stored_at,
            }
            for item in items
        ]
        if self._conn.dialect.name == "postgresql":
            return [int(i) for i in self._conn.execute(_INSERT_RAW_RETURNING, rows).scalars()]
        self._conn.execute(_INSERT_RAW, rows)
        ids = self.ids_by_origins([item.origin for item in items])
        return [ids[item.origin] for item in items]

    def ids_by_origins(self, origins: Sequence[MessageOrigin]) -> dict[MessageOrigin, int]:
        """The stored id of each origin already kept, first or further."""
        found = self._by_origins(_RAW_BY_UIDS, origins)
        missing = [origin for origin in origins if origin not in found]
        if missing:
            found.update(self._by_origins(_ORIGINS_BY_UIDS, missing))
        return found

    def _by_origins(
        self,
        query: tuple[Table, tuple[str, ...], tuple[str, ...], str],
        origins: Sequence[MessageOrigin],
    ) -> dict[MessageOrigin, int]:
        by_folder: dict[tuple[int, str, int], list[str]] = {}
        for origin in origins:
            key = (origin.mailbox_id, origin.folder, origin.uidvalidity)
            by_folder.setdefault(key, []).append(origin.uid)
        found: dict[MessageOrigin, int] = {}
        for rows in self._grouped(query, by_folder):
            for row in rows:
                origin = MessageOrigin(row[2], row[3], row[4], row[1])
                found[origin] = int(row[0])
        return found

    def _grouped(
        self,
        query: tuple[Table, tuple[str, ...], tuple[str, ...], str],
        groups: dict[Any, list[Any]],
    ) -> Iterator[Any]:
        """Each statement's rows of ``query`` (``_by_groups``) for ``groups`` (key values:
        values), as few statements as the bounds allow."""
        table, columns, keys, values = query
        dialect = self._conn.dialect.name
        for count, params in grouped_params(groups.items(), keys, values, dialect):
            statement = by_groups(table, columns, keys, values, count, dialect)
            yield self._conn.execute(statement, params)

    def same_content(self, items: Sequence[NewRaw]) -> list[int | None]:
        """For each item, the id of bytes already kept from its mailbox and folder with its
        content hash and Message-ID (the first such), else ``None``."""
        by_folder: dict[tuple[int, str], set[str]] = {}
        for item in items:
            key = (item.origin.mailbox_id, item.origin.folder)
            by_folder.setdefault(key, set()).add(item.content_hash)
        kept: dict[tuple[int, str, str, str | None], int] = {}
        groups = {key: sorted(hashes) for key, hashes in by_folder.items()}
        for rows in self._grouped(_RAW_BY_CONTENT, groups):
            for row in rows:  # oldest first: the first such is kept
                kept.setdefault((row[1], row[2], row[3], row[4]), int(row[0]))
        return [
            kept.get(
                (item.origin.mailbox_id, item.origin.folder, item.content_hash, item.message_id)
            )
            for item in items
        ]

    def add_origins(self, origins: Sequence[tuple[MessageOrigin, int]], seen_at: datetime) -> None:
        """Record further origins of kept bytes: (origin, id of the kept bytes)."""
        if not origins:
            return
        self._conn.execute(
            _INSERT_ORIGIN,
            [
                {
                    "raw_message_id": raw_id,
                    "mailbox_id": origin.mailbox_id,
                    "folder": origin.folder,
                    "uidvalidity": origin.uidvalidity,
                    "uid": origin.uid,
                    "seen_at": seen_at,
                }
                for origin, raw_id in origins
            ],
        )

    def origins_of(self, raw_message_id: int) -> list[MessageOrigin]:
        """Every origin of kept bytes: where they were first fetched, then each further one."""
        stored = self.require(raw_message_id).origin
        o = t.raw_message_origins.c
        rows = self._conn.execute(
            select(o.mailbox_id, o.folder, o.uidvalidity, o.uid)
            .where(o.raw_message_id == raw_message_id)
            .order_by(o.id)
        )
        further = [MessageOrigin(r.mailbox_id, r.folder, r.uidvalidity, r.uid) for r in rows]
        return [stored, *further]

    def require(self, raw_message_id: int) -> StoredRaw:
        row = (
            self._conn.execute(select(t.raw_messages).where(t.raw_messages.c.id == raw_message_id))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFoundError(f"no stored email with id {raw_message_id}")
        return StoredRaw(
            id=row["id"],
            origin=MessageOrigin(row["mailbox_id"], row["folder"], row["uidvalidity"], row["uid"]),
            message_id=row["message_id"],
            content_hash=row["content_hash"],
            size=row["size"],
            stored_at=row["stored_at"],
            raw=row["raw"],
        )

    def ids_by_message_id(self, message_id: str, *, scope: Scope | None = None) -> list[int]:
        """Kept copies of the email with this Message-ID that ``scope`` reaches."""
        c = t.raw_messages.c
        statement = select(c.id).where(c.message_id == message_id).order_by(c.id)
        reach = None if scope is None else raw_message_condition(scope, c.id, c.mailbox_id)
        if reach is not None:
            statement = statement.where(reach)
        return [int(i) for i in self._conn.execute(statement).scalars()]

    def is_within(self, raw_message_id: int, scope: Scope) -> bool:
        """Whether ``scope`` reaches this kept email (and so its explanation)."""
        c = t.raw_messages.c
        statement = select(c.id).where(c.id == raw_message_id)
        reach = raw_message_condition(scope, c.id, c.mailbox_id)
        if reach is not None:
            statement = statement.where(reach)
        return self._conn.execute(statement).first() is not None

    def ids_by_uids(self, mailbox_ids: Sequence[int], uids: Sequence[str]) -> list[int]:
        """Kept email of these mailboxes by the id their server gave it (a mail API's id)."""
        if not mailbox_ids or not uids:
            return []
        c = t.raw_messages.c
        query = (
            select(c.id)
            .where(c.mailbox_id.in_(list(mailbox_ids)[:500]), c.uid.in_(list(uids)[:10]))
            .order_by(c.id)
        )
        return [int(i) for i in self._conn.execute(query).scalars()]

    def undecided_ids(self, *, scope: Scope | None = None) -> list[int]:
        """Kept email never decided (a crash between keeping and deciding), of the mailboxes
        ``scope`` reaches (``None``: of every mailbox)."""
        decided = select(t.tracking_decisions.c.raw_message_id)
        parked = select(t.parked_emails.c.raw_message_id)
        c = t.raw_messages.c
        statement = select(c.id).where(c.id.not_in(decided), c.id.not_in(parked))
        reach = None if scope is None else mailbox_condition(scope)
        if reach is not None:
            statement = statement.where(c.mailbox_id.in_(select(t.mailboxes.c.id).where(reach)))
        return [int(i) for i in self._conn.execute(statement.order_by(c.id)).scalars()]

    def not_tracked(self, mailbox_id: int, limit: int, offset: int) -> list[tuple[int, str]]:
        """Kept email of one mailbox that was decided not tracked, newest first, with the
        decision's summary."""
        c, d = t.raw_messages.c, t.tracking_decisions.c
        rows = self._conn.execute(
            select(c.id, d.summary)
            .join(t.tracking_decisions, d.raw_message_id == c.id)
            .where(c.mailbox_id == mailbox_id, d.outcome == Outcome.NOT_TRACKED.value)
            .order_by(c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [(int(row.id), row.summary) for row in rows]


class SqlDecisionRepository:
    """Every tracking decision with all its reasons."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(self, decision: StoredDecision) -> None:
        self.add_many([decision])

    def add_many(self, decisions: Sequence[StoredDecision]) -> None:
        if not decisions:
            return
        self._conn.execute(
            _INSERT_DECISION,
            [
                {
                    "raw_message_id": d.raw_message_id,
                    "outcome": d.outcome.value,
                    "summary": d.summary,
                    "reasons": [[r.rule, r.verdict.value, r.text] for r in d.decision.reasons],
                    "correlation": d.correlation.method.value,
                    "activity_id": d.activity_id,
                    "decided_at": d.decided_at,
                }
                for d in decisions
            ],
        )

    def get(self, raw_message_id: int) -> StoredDecision | None:
        return self.get_many([raw_message_id]).get(raw_message_id)

    def get_many(self, raw_message_ids: Sequence[int]) -> dict[int, StoredDecision]:
        if not raw_message_ids:
            return {}
        rows = self._conn.execute(
            select(
                t.tracking_decisions,
                t.email_activities.c.regarding_kind,
                t.email_activities.c.regarding_id,
                t.email_activities.c.matched_activity_id,
                t.email_activities.c.conversation_id,
            )
            .outerjoin(
                t.email_activities,
                t.email_activities.c.id == t.tracking_decisions.c.activity_id,
            )
            .where(t.tracking_decisions.c.raw_message_id.in_(list(raw_message_ids)))
        ).mappings()
        return {row["raw_message_id"]: _decision(row) for row in rows}

    def delete(self, raw_message_id: int) -> None:
        self._conn.execute(
            delete(t.tracking_decisions).where(
                t.tracking_decisions.c.raw_message_id == raw_message_id
            )
        )


def _decision(row: Any) -> StoredDecision:
    reasons = tuple(Reason(rule, Verdict(verdict), text) for rule, verdict, text in row["reasons"])
    return StoredDecision(
        raw_message_id=row["raw_message_id"],
        outcome=Outcome(row["outcome"]),
        summary=row["summary"],
        decision=TrackingDecision(reasons),
        # The tracked email's activity names the one correlation found, and its conversation.
        correlation=Correlation(
            CorrelationMethod(row["correlation"]),
            row["matched_activity_id"],
            ref_from(row["regarding_kind"], row["regarding_id"]),
            row["conversation_id"],
        ),
        activity_id=row["activity_id"],
        decided_at=row["decided_at"],
    )


class SqlParkedRepository:
    """Email whose processing failed, waiting for replay."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def park(
        self, raw_message_id: int, stage: str, error_type: str, error: str, parked_at: datetime
    ) -> int:
        existing = self.get_by_raw(raw_message_id)
        if existing is not None:
            self._conn.execute(
                update(t.parked_emails)
                .where(t.parked_emails.c.id == existing.id)
                .values(
                    stage=stage,
                    error_type=error_type,
                    error=error,
                    attempts=existing.attempts + 1,
                    parked_at=parked_at,
                )
            )
            return existing.id
        result = self._conn.execute(
            insert(t.parked_emails).values(
                raw_message_id=raw_message_id,
                stage=stage,
                error_type=error_type,
                error=error,
                attempts=1,
                parked_at=parked_at,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def all(self, *, scope: Scope | None = None) -> list[ParkedEmail]:
        """Parked email of the mailboxes ``scope`` reaches (``None``: of every mailbox)."""
        reach = None if scope is None else mailbox_condition(scope)
        return self._select() if reach is None else self._select(reach)

    def get(self, parked_id: int, *, scope: Scope | None = None) -> ParkedEmail | None:
        """One parked email; ``None`` when there is none or its mailbox is out of ``scope``."""
        reach = None if scope is None else mailbox_condition(scope)
        conditions = [t.parked_emails.c.id == parked_id, *([] if reach is None else [reach])]
        found = self._select(*conditions)
        return found[0] if found else None

    def get_by_raw(self, raw_message_id: int) -> ParkedEmail | None:
        found = self._select(t.parked_emails.c.raw_message_id == raw_message_id)
        return found[0] if found else None

    def remove_by_raw(self, raw_message_id: int) -> None:
        self._conn.execute(_DELETE_PARKED_BY_RAW, {"raw_message_id": raw_message_id})

    def remove(self, parked_id: int) -> None:
        self._conn.execute(delete(t.parked_emails).where(t.parked_emails.c.id == parked_id))

    def _select(self, *conditions: Any) -> list[ParkedEmail]:
        p, r, m = t.parked_emails.c, t.raw_messages.c, t.mailboxes.c
        rows = self._conn.execute(
            select(t.parked_emails, r.message_id, r.folder, m.address)
            .join(t.raw_messages, r.id == p.raw_message_id)
            .join(t.mailboxes, m.id == r.mailbox_id)
            .where(*conditions)
            .order_by(p.id)
        ).mappings()
        return [
            ParkedEmail(
                id=row["id"],
                raw_message_id=row["raw_message_id"],
                stage=row["stage"],
                error_type=row["error_type"],
                error=row["error"],
                attempts=row["attempts"],
                parked_at=row["parked_at"],
                message_id=row["message_id"],
                mailbox_address=row["address"],
                folder=row["folder"],
            )
            for row in rows
        ]


def _identity_key(identity: str) -> int:
    """A stable 32-bit key for an identity; two identities sharing one only wait for each
    other needlessly."""
    digest = hashlib.blake2b(identity.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)
