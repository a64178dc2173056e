"""Which folders hold each kept email now: its copies (kept raw bytes and their further
origins, one mailbox, one identity) and the departures the servers reported."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, delete, insert, select, tuple_

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.among import among_values
from tidings.domain.message import MessageOrigin

#: Ids per statement: far below every database's limit on parameters.
_CHUNK = 500
#: The same table again, for an email's copies in its mailbox's other folders.
_OTHER = t.raw_messages.alias("other")


class SqlFolderPresenceRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def depart(self, origins: Sequence[tuple[MessageOrigin, int]], at: datetime) -> list[int]:
        """Record that these origins (origin, id of the kept bytes) left their folder;
        returns the ids of the bytes whose origin had not left already."""
        d = t.folder_departures.c
        fresh: list[tuple[MessageOrigin, int]] = []
        for first in range(0, len(origins), _CHUNK):
            part = origins[first : first + _CHUNK]
            keys = [(o.mailbox_id, o.folder, o.uidvalidity, o.uid) for o, _ in part]
            known = {
                tuple(row)
                for row in self._conn.execute(
                    select(d.mailbox_id, d.folder, d.uidvalidity, d.uid).where(
                        tuple_(d.mailbox_id, d.folder, d.uidvalidity, d.uid).in_(keys)
                    )
                )
            }
            fresh.extend(
                (o, raw_id)
                for o, raw_id in part
                if (o.mailbox_id, o.folder, o.uidvalidity, o.uid) not in known
            )
        if fresh:
            self._conn.execute(
                insert(t.folder_departures),
                [
                    {
                        "raw_message_id": raw_id,
                        "mailbox_id": o.mailbox_id,
                        "folder": o.folder,
                        "uidvalidity": o.uidvalidity,
                        "uid": o.uid,
                        "departed_at": at,
                    }
                    for o, raw_id in fresh
                ],
            )
        return sorted({raw_id for _, raw_id in fresh})

    def back(self, origins: Sequence[MessageOrigin]) -> list[int]:
        """These origins are in their folder again (a mail API's id, which a message keeps
        when it comes back); returns the ids of the bytes whose departure was undone."""
        d = t.folder_departures.c
        found: set[int] = set()
        for first in range(0, len(origins), _CHUNK):
            keys = [
                (o.mailbox_id, o.folder, o.uidvalidity, o.uid)
                for o in origins[first : first + _CHUNK]
            ]
            where = tuple_(d.mailbox_id, d.folder, d.uidvalidity, d.uid).in_(keys)
            ids = self._conn.execute(select(d.raw_message_id).where(where)).scalars().all()
            if ids:
                found.update(int(i) for i in ids)
                self._conn.execute(delete(t.folder_departures).where(where))
        return sorted(found)

    def copies(self, raw_message_id: int) -> list[tuple[int, MessageOrigin, datetime | None]]:
        """Every origin of every copy of this email in its mailbox (the kept bytes with the
        same Message-ID, else the same content and no Message-ID): (bytes id, origin, when
        it left its folder or None)."""
        r = t.raw_messages.c
        row = self._conn.execute(
            select(r.mailbox_id, r.message_id, r.content_hash).where(r.id == raw_message_id)
        ).first()
        if row is None:
            return []
        same = (
            r.message_id == row.message_id
            if row.message_id is not None
            else and_(r.message_id.is_(None), r.content_hash == row.content_hash)
        )
        rows = self._conn.execute(
            select(r.id, r.mailbox_id, r.folder, r.uidvalidity, r.uid)
            .where(r.mailbox_id == row.mailbox_id, same)
            .order_by(r.id)
            .limit(_CHUNK)
        ).all()
        found = [(x.id, MessageOrigin(x.mailbox_id, x.folder, x.uidvalidity, x.uid)) for x in rows]
        ids = [x.id for x in rows]
        o = t.raw_message_origins.c
        found += [
            (x.raw_message_id, MessageOrigin(x.mailbox_id, x.folder, x.uidvalidity, x.uid))
            for x in self._conn.execute(
                select(o.raw_message_id, o.mailbox_id, o.folder, o.uidvalidity, o.uid)
                .where(o.raw_message_id.in_(ids))
                .order_by(o.id)
            )
        ]
        d = t.folder_departures.c
        left = {
            (x.folder, x.uidvalidity, x.uid): x.departed_at
            for x in self._conn.execute(
                select(d.folder, d.uidvalidity, d.uid, d.departed_at).where(
                    d.raw_message_id.in_(ids)
                )
            )
        }
        return [
            (raw_id, origin, left.get((origin.folder, origin.uidvalidity, origin.uid)))
            for raw_id, origin in found
        ]

    def with_copies_elsewhere(self, raw_message_ids: Sequence[int]) -> list[int]:
        """Those of these kept emails of which their mailbox holds a copy in another folder."""
        r = t.raw_messages.c
        o = _OTHER.c
        found: set[int] = set()
        ids = sorted(set(raw_message_ids))
        dialect = self._conn.dialect.name
        for first in range(0, len(ids), _CHUNK):
            chunk = ids[first : first + _CHUNK]
            query = (
                select(r.id)
                .join(
                    _OTHER,
                    and_(
                        o.mailbox_id == r.mailbox_id,
                        o.folder != r.folder,
                        o.message_id == r.message_id,
                    ),
                )
                .where(among_values(r.id, chunk, dialect), r.message_id.is_not(None))
            )
            found.update(int(i) for i in self._conn.execute(query).scalars())
            by_content = (
                select(r.id)
                .join(
                    _OTHER,
                    and_(
                        o.mailbox_id == r.mailbox_id,
                        o.folder != r.folder,
                        o.content_hash == r.content_hash,
                        o.message_id.is_(None),
                    ),
                )
                .where(among_values(r.id, chunk, dialect), r.message_id.is_(None))
            )
            found.update(int(i) for i in self._conn.execute(by_content).scalars())
        return sorted(found)

    def present_uids(self, mailbox_id: int, folder: str, uidvalidity: int, limit: int) -> list[str]:
        """The ids (UIDs) of the newest ``limit`` kept copies in a folder that have not left it."""
        r, o, d = t.raw_messages.c, t.raw_message_origins.c, t.folder_departures.c
        gone = select(d.uid).where(
            d.mailbox_id == mailbox_id, d.folder == folder, d.uidvalidity == uidvalidity
        )
        found: list[str] = []
        # A copy's UID stands in raw_messages when it was the first seen, else in the origins.
        for c in (r, o):
            newest = (
                select(c.uid)
                .where(
                    c.mailbox_id == mailbox_id,
                    c.folder == folder,
                    c.uidvalidity == uidvalidity,
                    c.uid.not_in(gone),
                )
                .order_by(c.id.desc())
                .limit(limit)
            )
            found += [str(uid) for uid in self._conn.execute(newest).scalars()]
        return found
