"""Credentials as stored: user names and sealed (encrypted) secrets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, delete, insert, select, update

from tidings.adapters.storage import tables as t
from tidings.domain.credentials import CredentialKey

_C = t.credentials.c


class SqlCredentialRepository:
    """Never sees a password in clear: services seal before saving and open after reading."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def save(self, key: CredentialKey, username: str, sealed: str, updated_at: datetime) -> None:
        values = {"username": username, "sealed_secret": sealed, "updated_at": updated_at}
        done = self._conn.execute(update(t.credentials).where(*_matches(key)).values(values))
        if done.rowcount == 0:
            self._conn.execute(
                insert(t.credentials).values(
                    scope=key.scope.value,
                    scope_id=key.scope_id,
                    direction=key.direction.value,
                    **values,
                )
            )

    def add_many(
        self, credentials: Sequence[tuple[CredentialKey, str, str]], updated_at: datetime
    ) -> None:
        """Store many new credentials, (key, user name, sealed secret), in one statement."""
        if not credentials:
            return
        self._conn.execute(
            insert(t.credentials),
            [
                {
                    "scope": key.scope.value,
                    "scope_id": key.scope_id,
                    "direction": key.direction.value,
                    "username": username,
                    "sealed_secret": sealed,
                    "updated_at": updated_at,
                }
                for key, username, sealed in credentials
            ],
        )

    def get(self, key: CredentialKey) -> tuple[str, str] | None:
        row = self._conn.execute(
            select(_C.username, _C.sealed_secret).where(*_matches(key))
        ).first()
        return None if row is None else (row.username, row.sealed_secret)

    def delete(self, key: CredentialKey) -> None:
        self._conn.execute(delete(t.credentials).where(*_matches(key)))

    def all_sealed(self) -> list[tuple[int, str]]:
        return [
            (r.id, r.sealed_secret) for r in self._conn.execute(select(_C.id, _C.sealed_secret))
        ]

    def replace_sealed(self, credential_id: int, sealed: str) -> None:
        self._conn.execute(
            update(t.credentials).where(_C.id == credential_id).values(sealed_secret=sealed)
        )


def _matches(key: CredentialKey) -> tuple[ColumnElement[bool], ...]:
    return (
        _C.scope == key.scope.value,
        _C.scope_id == key.scope_id,
        _C.direction == key.direction.value,
    )
