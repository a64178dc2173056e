"""Sign-in sessions, API tokens and failed sign-ins as stored (digests only, never tokens)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tidings.adapters.storage import tables as t
from tidings.domain.access import ApiToken, SignInSession
from tidings.domain.sign_in_throttle import Counter, ThrottleScope

_S = t.sign_in_sessions.c
_T = t.api_tokens.c
_C = t.sign_in_counters.c


class SqlAccessRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add_session(self, session: SignInSession) -> int:
        return int(
            self._conn.execute(
                insert(t.sign_in_sessions)
                .values(
                    user_id=session.user_id,
                    token_digest=session.token_digest,
                    csrf_token=session.csrf_token,
                    created_at=session.created_at,
                    last_seen_at=session.last_seen_at,
                )
                .returning(_S.id)
            ).scalar_one()
        )

    def get_session(self, token_digest: str) -> SignInSession | None:
        row = self._conn.execute(
            select(t.sign_in_sessions).where(_S.token_digest == token_digest)
        ).first()
        return None if row is None else _session_from(row)

    def touch_session(self, session_id: int, seen_at: datetime) -> None:
        self._conn.execute(
            update(t.sign_in_sessions).where(_S.id == session_id).values(last_seen_at=seen_at)
        )

    def remove_session(self, token_digest: str) -> None:
        self._conn.execute(delete(t.sign_in_sessions).where(_S.token_digest == token_digest))

    def remove_sessions_of(self, user_id: int) -> None:
        self._conn.execute(delete(t.sign_in_sessions).where(_S.user_id == user_id))

    def add_api_token(self, token: ApiToken) -> int:
        return int(
            self._conn.execute(
                insert(t.api_tokens)
                .values(
                    user_id=token.user_id,
                    name=token.name,
                    token_digest=token.token_digest,
                    hint=token.hint,
                    created_at=token.created_at,
                )
                .returning(_T.id)
            ).scalar_one()
        )

    def get_api_token(self, token_digest: str) -> ApiToken | None:
        row = self._conn.execute(
            select(t.api_tokens).where(_T.token_digest == token_digest)
        ).first()
        return None if row is None else _token_from(row)

    def get_api_token_by_id(self, token_id: int) -> ApiToken | None:
        row = self._conn.execute(select(t.api_tokens).where(_T.id == token_id)).first()
        return None if row is None else _token_from(row)

    def api_tokens_of(self, user_id: int) -> list[ApiToken]:
        rows = self._conn.execute(select(t.api_tokens).where(_T.user_id == user_id).order_by(_T.id))
        return [_token_from(row) for row in rows]

    def mark_api_token_used(self, token_id: int, used_at: datetime) -> None:
        self._conn.execute(
            update(t.api_tokens).where(_T.id == token_id).values(last_used_at=used_at)
        )

    def revoke_api_token(self, token_id: int, revoked_at: datetime) -> None:
        self._conn.execute(
            update(t.api_tokens)
            .where(_T.id == token_id, _T.revoked_at.is_(None))
            .values(revoked_at=revoked_at)
        )

    def sign_in_counters(self, keys: Sequence[str]) -> dict[str, Counter]:
        rows = self._conn.execute(select(t.sign_in_counters).where(_C.key.in_(list(keys))))
        return {row.key: Counter(row.tally, row.last_at) for row in rows}

    def count_sign_in(self, key: str, scope: ThrottleScope, at: datetime) -> None:
        # One statement, so that processes counting the same key at once never collide.
        insert_ = pg_insert if self._conn.dialect.name == "postgresql" else sqlite_insert
        statement = insert_(t.sign_in_counters).values(
            key=key, scope=scope.value, tally=1, last_at=at
        )
        self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[_C.key], set_={"tally": _C.tally + 1, "last_at": at}
            )
        )

    def clear_sign_in_counter(self, key: str) -> None:
        self._conn.execute(delete(t.sign_in_counters).where(_C.key == key))

    def forget_sign_in_counters(self, failed_before: datetime, trusted_before: datetime) -> int:
        trusted = _C.scope == ThrottleScope.TRUSTED.value
        done = self._conn.execute(
            delete(t.sign_in_counters).where(
                ((_C.last_at < failed_before) & ~trusted)
                | ((_C.last_at < trusted_before) & trusted)
            )
        )
        return int(done.rowcount)


def _session_from(row: Any) -> SignInSession:
    return SignInSession(
        user_id=row.user_id,
        token_digest=row.token_digest,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        id=row.id,
    )


def _token_from(row: Any) -> ApiToken:
    return ApiToken(
        user_id=row.user_id,
        name=row.name,
        token_digest=row.token_digest,
        hint=row.hint,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        id=row.id,
    )
