"""access levels: business units, queue members, owners, a level per role privilege

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 05:40:00

Existing data: one root business unit named after the organization (the domain of the
first administrator's address) holds every user and queue; every record belongs to the
first administrator; existing roles keep their privileges Organization-wide, except the
tracking role, which becomes User level and also reads records, mailboxes and personal
options of its own; the example roles Salesperson and Support are added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_RECORDS = ("accounts", "contacts", "leads", "opportunities", "cases")
_OWNED = (*_RECORDS, "webhook_subscriptions")

_TRACKING_ROLE = "Tidings App User"
_ADMIN_ROLE = "System Administrator"
_OWN_SETTINGS = ("read_user_settings", "write_user_settings")
_TRACKING_PRIVILEGES = (
    "track_email",
    "read_activities",
    "read_mailboxes",
    "read_records",
    *_OWN_SETTINGS,
)
#: The example roles as ``domain.people.standard_roles`` ships them, frozen here.
_EXAMPLE_ROLES = {
    "Salesperson": {
        "track_email": "user",
        "read_mailboxes": "user",
        "read_activities": "business_unit",
        "read_records": "business_unit",
        "write_activities": "user",
        "write_records": "user",
        "read_user_settings": "user",
        "write_user_settings": "user",
    },
    "Support": {
        "track_email": "user",
        "read_activities": "user",
        "write_activities": "user",
        "read_mailboxes": "user",
        "send_as_queue": "user",
        "read_records": "business_unit",
        "read_user_settings": "user",
        "write_user_settings": "user",
    },
}


def upgrade() -> None:
    op.create_table(
        "business_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["business_units.id"],
            name=op.f("fk_business_units_parent_id_business_units"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_units")),
        sa.UniqueConstraint("name", name=op.f("uq_business_units_name")),
    )
    op.create_index(op.f("ix_business_units_parent_id"), "business_units", ["parent_id"])
    op.create_table(
        "queue_members",
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_queue_members_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_queue_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", "user_id", name=op.f("pk_queue_members")),
    )
    op.create_index(op.f("ix_queue_members_user_id"), "queue_members", ["user_id"])
    with op.batch_alter_table("role_privileges") as batch:
        batch.add_column(
            sa.Column("level", sa.String(length=32), nullable=False, server_default="organization")
        )
    for table in ("users", "queues"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("business_unit_id", sa.Integer(), nullable=True))
            batch.create_index(op.f(f"ix_{table}_business_unit_id"), ["business_unit_id"])
    for table in _OWNED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
            batch.create_index(op.f(f"ix_{table}_owner_id"), ["owner_id"])
    op.create_index(
        op.f("ix_email_activities_owner_kind_owner_id"),
        "email_activities",
        ["owner_kind", "owner_id"],
    )
    _move_data()


def _move_data() -> None:
    conn = op.get_bind()
    roles = {
        name: ident for ident, name in conn.execute(sa.text("SELECT id, name FROM security_roles"))
    }
    if not roles:
        return  # an empty database: setup creates the organization and its roles
    admin = _first_admin(conn, roles.get(_ADMIN_ROLE))
    unit_name = _organization_name(conn, admin)
    conn.execute(sa.text("INSERT INTO business_units (name) VALUES (:name)"), {"name": unit_name})
    unit = conn.execute(
        sa.text("SELECT id FROM business_units WHERE name = :name"), {"name": unit_name}
    ).scalar_one()
    for table in ("users", "queues"):
        conn.execute(sa.text(f"UPDATE {table} SET business_unit_id = :unit"), {"unit": unit})  # noqa: S608 - table names are constants
    if admin is not None:
        for table in _RECORDS:
            conn.execute(sa.text(f"UPDATE {table} SET owner_id = :owner"), {"owner": admin})  # noqa: S608 - table names are constants
    # Roles that administer users also administer their personal options.
    for source, target in (
        ("read_users", "read_user_settings"),
        ("write_users", "write_user_settings"),
    ):
        conn.execute(
            sa.text(
                "INSERT INTO role_privileges (role_id, privilege, level) "
                "SELECT role_id, :target, 'organization' FROM role_privileges "
                "WHERE privilege = :source"
            ),
            {"source": source, "target": target},
        )
    tracking = roles.get(_TRACKING_ROLE)
    if tracking is not None:
        _hold_at(conn, tracking, dict.fromkeys(_TRACKING_PRIVILEGES, "user"))
    for name, levels in _EXAMPLE_ROLES.items():
        if name not in roles:
            conn.execute(
                sa.text("INSERT INTO security_roles (name) VALUES (:name)"), {"name": name}
            )
            role = conn.execute(
                sa.text("SELECT id FROM security_roles WHERE name = :name"), {"name": name}
            ).scalar_one()
            _hold_at(conn, role, levels)


def _hold_at(conn: sa.Connection, role_id: int, levels: dict[str, str]) -> None:
    conn.execute(sa.text("DELETE FROM role_privileges WHERE role_id = :role"), {"role": role_id})
    for privilege, level in sorted(levels.items()):
        conn.execute(
            sa.text(
                "INSERT INTO role_privileges (role_id, privilege, level) "
                "VALUES (:role, :privilege, :level)"
            ),
            {"role": role_id, "privilege": privilege, "level": level},
        )


def _first_admin(conn: sa.Connection, admin_role: int | None) -> int | None:
    if admin_role is None:
        return None
    found = conn.execute(
        sa.text("SELECT MIN(user_id) FROM user_roles WHERE role_id = :role"), {"role": admin_role}
    ).scalar()
    return int(found) if found is not None else None


def _organization_name(conn: sa.Connection, admin: int | None) -> str:
    if admin is None:
        return "Organization"
    email = conn.execute(
        sa.text("SELECT email FROM users WHERE id = :id"), {"id": admin}
    ).scalar_one()
    return str(email).rpartition("@")[2] or "Organization"


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("DELETE FROM role_privileges WHERE level = 'none'"))
    op.drop_index(op.f("ix_email_activities_owner_kind_owner_id"), table_name="email_activities")
    for table in _OWNED:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(op.f(f"ix_{table}_owner_id"))
            batch.drop_column("owner_id")
    for table in ("users", "queues"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(op.f(f"ix_{table}_business_unit_id"))
            batch.drop_column("business_unit_id")
    with op.batch_alter_table("role_privileges") as batch:
        batch.drop_column("level")
    op.drop_index(op.f("ix_queue_members_user_id"), table_name="queue_members")
    op.drop_table("queue_members")
    op.drop_index(op.f("ix_business_units_parent_id"), table_name="business_units")
    op.drop_table("business_units")
