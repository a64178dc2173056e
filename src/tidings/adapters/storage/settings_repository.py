"""Organization settings, server profiles, mailboxes with their alerts and folder rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.access_conditions import mailbox_condition
from tidings.adapters.storage.among import among_values
from tidings.adapters.storage.chunking import chunks
from tidings.adapters.storage.mapping import (
    configuration_columns,
    configuration_from,
    mailbox_from,
    ref_columns,
    ref_from,
)
from tidings.domain.access_levels import Scope
from tidings.domain.folders import FolderTrackingRule
from tidings.domain.mailbox import Alert, AlertLevel, Mailbox
from tidings.domain.records import RecordRef, normalize_address
from tidings.domain.server_profile import (
    ConnectionSecurity,
    CredentialSource,
    ServerProfile,
    ServerProfileKind,
)
from tidings.domain.settings import EmailConfiguration


class SqlSettingsRepository:
    """The organization's single row of email configuration settings, read once per unit of
    work: a batch's stages each consult it, and it is the same row throughout."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self._read: EmailConfiguration | None = None

    def get(self) -> EmailConfiguration:
        if self._read is None:
            row = self._conn.execute(select(t.email_configuration)).mappings().first()
            self._read = EmailConfiguration() if row is None else configuration_from(row)
        return self._read

    def save(self, config: EmailConfiguration) -> None:
        # Read again after a save: a savepoint rolled back may undo it.
        self._read = None
        columns = configuration_columns(config)
        done = self._conn.execute(update(t.email_configuration).values(columns))
        if done.rowcount == 0:
            self._conn.execute(insert(t.email_configuration).values(id=1, **columns))


_PROFILE_ENUMS = {
    "kind": ServerProfileKind,
    "incoming_security": ConnectionSecurity,
    "outgoing_security": ConnectionSecurity,
    "credential_source": CredentialSource,
}


class SqlServerProfileRepository:
    """Email server profiles."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(self, profile: ServerProfile) -> int:
        values = {c.name: getattr(profile, c.name) for c in t.server_profiles.columns}
        values.pop("id")
        profile.id = self._conn.execute(
            insert(t.server_profiles).values(values)
        ).inserted_primary_key[0]  # type: ignore[index]
        return profile.id

    def get(self, profile_id: int) -> ServerProfile | None:
        row = (
            self._conn.execute(
                select(t.server_profiles).where(t.server_profiles.c.id == profile_id)
            )
            .mappings()
            .first()
        )
        return None if row is None else profile_from(dict(row))

    def all(self) -> list[ServerProfile]:
        rows = self._conn.execute(select(t.server_profiles).order_by(t.server_profiles.c.name))
        return [profile_from(dict(row)) for row in rows.mappings()]

    def save(self, profile: ServerProfile) -> None:
        values = {c.name: getattr(profile, c.name) for c in t.server_profiles.columns}
        values.pop("id")
        self._conn.execute(
            update(t.server_profiles).where(t.server_profiles.c.id == profile.id).values(values)
        )

    def delete(self, profile_id: int) -> None:
        self._conn.execute(delete(t.server_profiles).where(t.server_profiles.c.id == profile_id))


def profile_from(row: dict[str, Any]) -> ServerProfile:
    for name, enum_type in _PROFILE_ENUMS.items():
        row[name] = enum_type(row[name])
    return ServerProfile(**row)


class SqlMailboxRepository:
    """Mailboxes, their alerts and their folder-level tracking rules."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(self, mailbox: Mailbox) -> int:
        result = self._conn.execute(insert(t.mailboxes).values(_mailbox_columns(mailbox)))
        mailbox_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        mailbox.id = mailbox_id
        for alert in mailbox.alerts:
            self.add_alert(mailbox_id, alert)
        return mailbox_id

    def add_many(self, mailboxes: Sequence[Mailbox]) -> None:
        """Store many new mailboxes (without alerts) in a few statements; each gets its id."""
        if not mailboxes:
            return
        self._conn.execute(insert(t.mailboxes), [_mailbox_columns(m) for m in mailboxes])
        ids: dict[str, int] = {}
        c = t.mailboxes.c
        for chunk in chunks([m.address for m in mailboxes]):
            ids.update(
                (r.address, r.id)
                for r in self._conn.execute(select(c.address, c.id).where(c.address.in_(chunk)))
            )
        for mailbox in mailboxes:
            mailbox.id = ids[mailbox.address]
            for alert in mailbox.alerts:
                self.add_alert(mailbox.id, alert)

    def save(self, mailbox: Mailbox) -> None:
        self._conn.execute(
            update(t.mailboxes)
            .where(t.mailboxes.c.id == mailbox.id)
            .values(_mailbox_columns(mailbox))
        )

    def get(self, mailbox_id: int, *, scope: Scope | None = None) -> Mailbox | None:
        """The mailbox, if ``scope`` reaches it (``None``: the server's own reading)."""
        reach = None if scope is None else mailbox_condition(scope)
        condition = t.mailboxes.c.id == mailbox_id
        return self._one(condition if reach is None else and_(condition, reach))

    def get_many(
        self, mailbox_ids: Sequence[int], *, with_alerts: bool = True
    ) -> dict[int, Mailbox]:
        """The mailboxes of these ids that exist, with their alerts, in two queries (without
        them, in one: ingest reads the mailboxes of every batch and never their alerts)."""
        if not mailbox_ids:
            return {}
        ids = sorted(set(mailbox_ids))
        dialect = self._conn.dialect.name
        rows = self._conn.execute(
            select(t.mailboxes).where(among_values(t.mailboxes.c.id, ids, dialect))
        ).mappings()
        if not with_alerts:
            return {row["id"]: mailbox_from(dict(row), []) for row in rows}
        a = t.mailbox_alerts.c
        alerts: dict[int, list[Alert]] = {}
        for alert in self._conn.execute(
            select(t.mailbox_alerts)
            .where(among_values(a.mailbox_id, ids, dialect))
            .order_by(a.raised_at, a.id)
        ).mappings():
            alerts.setdefault(alert["mailbox_id"], []).append(_alert(alert))
        return {row["id"]: mailbox_from(dict(row), alerts.get(row["id"], [])) for row in rows}

    def get_by_address(self, address: str) -> Mailbox | None:
        return self._one(t.mailboxes.c.address == normalize_address(address))

    def get_by_owner(self, owner: RecordRef) -> Mailbox | None:
        c = t.mailboxes.c
        return self._one((c.owner_kind == owner.kind.value) & (c.owner_id == owner.id))

    def all(self, *, scope: Scope | None = None) -> list[Mailbox]:
        """Every mailbox ``scope`` reaches with its alerts, in two queries however many."""
        statement = select(t.mailboxes).order_by(t.mailboxes.c.address)
        reach = None if scope is None else mailbox_condition(scope)
        rows = self._conn.execute(statement if reach is None else statement.where(reach))
        a = t.mailbox_alerts.c
        alerts: dict[int, list[Alert]] = {}
        for alert in self._conn.execute(
            select(a.mailbox_id, a.level, a.text, a.raised_at).order_by(
                a.mailbox_id, a.raised_at, a.id
            )
        ):
            alerts.setdefault(alert.mailbox_id, []).append(
                Alert(AlertLevel(alert.level), alert.text, alert.raised_at)
            )
        return [mailbox_from(row, alerts.get(row["id"], ())) for row in rows.mappings()]

    def add_alert(self, mailbox_id: int, alert: Alert) -> None:
        self._conn.execute(
            insert(t.mailbox_alerts).values(
                mailbox_id=mailbox_id,
                level=alert.level.value,
                text=alert.text,
                raised_at=alert.raised_at,
                folder=alert.folder,
            )
        )

    def remove_folder_alerts(self, mailbox_id: int, folder: str) -> None:
        a = t.mailbox_alerts.c
        self._conn.execute(
            delete(t.mailbox_alerts).where(a.mailbox_id == mailbox_id, a.folder == folder)
        )

    def folder_rules(self, mailbox_id: int) -> list[FolderTrackingRule]:
        return self.folder_rules_of([mailbox_id]).get(mailbox_id, [])

    def folder_rules_of(self, mailbox_ids: Sequence[int]) -> dict[int, list[FolderTrackingRule]]:
        """Each mailbox's folder-level tracking rules, by folder; mailboxes without none."""
        if not mailbox_ids:
            return {}
        c = t.folder_rules.c
        rows = self._conn.execute(
            select(t.folder_rules)
            .where(among_values(c.mailbox_id, sorted(set(mailbox_ids)), self._conn.dialect.name))
            .order_by(c.mailbox_id, c.folder)
        ).mappings()
        rules: dict[int, list[FolderTrackingRule]] = {}
        for row in rows:
            rules.setdefault(row["mailbox_id"], []).append(
                FolderTrackingRule(
                    mailbox_id=row["mailbox_id"],
                    folder=row["folder"],
                    regarding=ref_from(row["regarding_kind"], row["regarding_id"]),
                    id=row["id"],
                )
            )
        return rules

    def replace_folder_rules(self, mailbox_id: int, rules: list[FolderTrackingRule]) -> None:
        self._conn.execute(delete(t.folder_rules).where(t.folder_rules.c.mailbox_id == mailbox_id))
        for rule in rules:
            self._conn.execute(
                insert(t.folder_rules).values(
                    mailbox_id=mailbox_id,
                    folder=rule.folder,
                    **ref_columns("regarding", rule.regarding),
                )
            )

    def delete(self, mailbox_id: int) -> None:
        """Remove a mailbox; its alerts, rules, cursors and kept email go with it, and its
        activities stay, no longer naming it."""
        self._conn.execute(delete(t.mailboxes).where(t.mailboxes.c.id == mailbox_id))

    def _one(self, condition: object) -> Mailbox | None:
        row = self._conn.execute(select(t.mailboxes).where(condition)).mappings().first()  # type: ignore[arg-type]
        return None if row is None else self._mailbox(row)

    def _mailbox(self, row: object) -> Mailbox:
        r = dict(row)  # type: ignore[call-overload]
        alerts = self._conn.execute(
            select(t.mailbox_alerts)
            .where(t.mailbox_alerts.c.mailbox_id == r["id"])
            .order_by(t.mailbox_alerts.c.raised_at, t.mailbox_alerts.c.id)
        ).mappings()
        return mailbox_from(r, [_alert(a) for a in alerts])


def _alert(row: Any) -> Alert:
    return Alert(AlertLevel(row["level"]), row["text"], row["raised_at"], row["folder"])


def _mailbox_columns(mailbox: Mailbox) -> dict[str, object]:
    return {
        "address": mailbox.address,
        "owner_kind": mailbox.owner.kind.value,
        "owner_id": mailbox.owner.id,
        "profile_id": mailbox.profile_id,
        "incoming_method": mailbox.incoming_method.value,
        "outgoing_method": mailbox.outgoing_method.value,
        "approval": mailbox.approval.value,
        "incoming_status": mailbox.incoming_status.value,
        "outgoing_status": mailbox.outgoing_status.value,
        "enabled": mailbox.enabled,
    }
