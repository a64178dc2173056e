"""Migration 0020 on an organization that existed before access levels."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from tidings.adapters.storage.database import make_engine
from tidings.adapters.storage.migrate import upgrade


def test_existing_data_gets_one_root_unit_owners_and_user_level_tracking(tmp_path: Path) -> None:
    # Everyone lands in one root unit named after the organization's mail domain; records
    # belong to the first administrator; the tracking role becomes User level; the
    # administrator keeps Organization; the example roles are added.
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0019")
    engine = make_engine(url)
    with engine.begin() as db:
        db.execute(text("INSERT INTO security_roles (id, name) VALUES (1, 'System Administrator')"))
        db.execute(text("INSERT INTO security_roles (id, name) VALUES (2, 'Tidings App User')"))
        for privilege in ("read_activities", "read_users", "write_users"):
            db.execute(
                text("INSERT INTO role_privileges (role_id, privilege) VALUES (1, :p)"),
                {"p": privilege},
            )
        for privilege in ("track_email", "read_activities"):
            db.execute(
                text("INSERT INTO role_privileges (role_id, privilege) VALUES (2, :p)"),
                {"p": privilege},
            )
        for ident, email in ((1, "admin@northwind.example"), (2, "dana@northwind.example")):
            db.execute(
                text(
                    "INSERT INTO users (id, full_name, email, is_active, track_incoming, "
                    "create_contacts_for_unknown_senders) VALUES (:i, 'X', :e, 1, 'x', 0)"
                ),
                {"i": ident, "e": email},
            )
        db.execute(text("INSERT INTO user_roles (user_id, role_id) VALUES (1, 1), (2, 2)"))
        db.execute(text("INSERT INTO accounts (id, name) VALUES (1, 'Contoso')"))
    upgrade(url)
    with engine.connect() as db:
        units = db.execute(text("SELECT id, name, parent_id FROM business_units")).all()
        assert [(name, parent) for _, name, parent in units] == [("northwind.example", None)]
        root = units[0][0]
        assert set(db.execute(text("SELECT business_unit_id FROM users")).scalars()) == {root}
        assert db.execute(text("SELECT owner_id FROM accounts")).scalar_one() == 1
        levels = {
            (role, privilege): level
            for role, privilege, level in db.execute(
                text("SELECT role_id, privilege, level FROM role_privileges")
            )
        }
        roles = dict(db.execute(text("SELECT name, id FROM security_roles")).all())
    engine.dispose()
    assert levels[(1, "read_activities")] == "organization"
    assert levels[(1, "read_user_settings")] == "organization"
    assert {p: lv for (r, p), lv in levels.items() if r == 2} == {
        "track_email": "user",
        "read_activities": "user",
        "read_mailboxes": "user",
        "read_records": "user",
        "read_user_settings": "user",
        "write_user_settings": "user",
    }
    assert levels[(roles["Salesperson"], "read_activities")] == "business_unit"
    assert levels[(roles["Support"], "read_records")] == "business_unit"
