"""The conversations migration gives activities recorded before it their conversations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tidings.adapters.storage.database import make_engine
from tidings.adapters.storage.migrate import alembic_config, upgrade
from tidings.domain.conversation import starting_conversation

NOW = datetime(2026, 11, 19, 10, 30, tzinfo=UTC)

#: id, identity, subject, in_reply_to, Outlook conversation index, token, correlation.
LEGACY = [
    (1, "<a@contoso.example>", "Quote", None, None, None, "none"),
    (2, "<b@northwind.example>", "RE: Quote CRM:0001001", "<a@contoso.example>", "idx1",
     "CRM:0001001", "in_reply_to"),
    (3, "<c@contoso.example>", "RE: Quote CRM:0001001", None, None, None, "tracking_token"),
    (4, "<d@contoso.example>", "Also", None, "idx1", None, "conversation_index"),
    (5, "<e@contoso.example>", "Lunch?", None, None, None, "none"),
    (6, "<f@contoso.example>", "RE: gone", "<gone@contoso.example>", None, None, "in_reply_to"),
]  # fmt: skip


def _previous_revision(url: str) -> str:
    """The revision before the conversations migration, whatever number it is given."""
    script = ScriptDirectory.from_config(alembic_config(url))
    (found,) = [
        rev for rev in script.walk_revisions() if Path(rev.path).name.endswith("_conversations.py")
    ]
    assert isinstance(found.down_revision, str)
    return found.down_revision


def _downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    engine.dispose()


def test_existing_activities_join_what_their_recorded_correlation_matched(
    database_url: str,
) -> None:
    # Each starts its own conversation unless the email it answered is found again.
    _downgrade(database_url, _previous_revision(database_url))
    engine = make_engine(database_url)
    with engine.begin() as connection:
        for key, identity, subject, in_reply_to, index, token, method in LEGACY:
            connection.execute(
                text(
                    "INSERT INTO email_activities (id, owner_kind, owner_id, identity, "
                    "message_id, subject, direction, status, in_reply_to, conversation_id, "
                    "subject_key, tracking_token, correlation, text_body, created_at) VALUES "
                    "(:id, 'user', 1, :identity, :identity, :subject, 'incoming', 'received', "
                    ":in_reply_to, :idx, 'k', :token, :method, '', :now)"
                ),
                {
                    "id": key,
                    "identity": identity,
                    "subject": subject,
                    "in_reply_to": in_reply_to,
                    "idx": index,
                    "token": token,
                    "method": method,
                    "now": NOW,
                },
            )
    upgrade(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, conversation_id, matched_activity_id, conversation_index "
                "FROM email_activities ORDER BY id"
            )
        ).all()
    engine.dispose()
    thread = starting_conversation("<a@contoso.example>")
    assert [tuple(row) for row in rows] == [
        (1, thread, None, None),
        (2, thread, 1, "idx1"),
        (3, thread, 2, None),
        (4, thread, 2, "idx1"),
        (5, starting_conversation("<e@contoso.example>"), None, None),
        (6, starting_conversation("<f@contoso.example>"), None, None),
    ]
