"""IMAP folders with names beyond ASCII, against a real Dovecot: offered, synced and written
to by the names people read, whatever IMAP writes on the wire (modified UTF-7, RFC 3501
§5.1.3)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from tests.builders import Org, dovecot_profile, make_email
from tests.integration.sync_run import SyncRun, service_for
from tests.servers.dovecot import DovecotServer
from tidings.adapters.imap.client import ImapFolderSession
from tidings.adapters.imap.folder_list import ImapFolderLister
from tidings.adapters.storage.database import make_engine
from tidings.adapters.storage.migrate import alembic_config, upgrade
from tidings.domain.credentials import Credential
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.domain.stored import ActivityFilter

DANA = "dana@northwind.example"
FOLDERS = ("Entwürfe", "Éléments envoyés/Année 2026", "R&D", "日本語")


def test_the_folder_picker_offers_folders_by_the_names_people_read(tmp_path: Path) -> None:
    # Before: "Entw&APw-rfe", "&AMk-l&AOk-ments envoy&AOk-s/Ann&AOk-e 2026", "R&-D", "&ZeVnLIqe-".
    with DovecotServer(tmp_path / "dovecot", {DANA: "dana-pass"}) as dovecot:
        for folder in FOLDERS:
            dovecot.create_folder(DANA, folder)
        lister = ImapFolderLister()
        names = asyncio.run(
            lister.list_folders(dovecot_profile(dovecot), Credential(DANA, "dana-pass"), DANA)
        )
    assert set(FOLDERS) <= set(names)


def test_a_folder_named_beyond_ascii_is_tracked_by_its_name(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Before: a rule for "Entwürfe" sent SELECT "Entwürfe", which no server without
    # UTF8=ACCEPT takes, and the folder never synced.
    org, run = sync_org
    for n, folder in enumerate(FOLDERS):
        org.add_folder_rule("dana", folder)
        raw = make_email(subject=f"In {folder}", message_id=f"<f{n}@c.example>")
        server.deliver(DANA, raw, folder=folder)
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == len(FOLDERS), timeout=30)
    page = org.tidings.queries.activities(ActivityFilter(limit=10))
    assert sorted(a.subject for a in page.items) == sorted(f"In {f}" for f in FOLDERS)
    synced = {f.folder for f in org.tidings.queries.sync_state()[org.mailboxes["dana"]].folders}
    assert set(FOLDERS) <= synced


def test_the_migration_reads_stored_imap_folder_names_and_leaves_other_mailboxes_be(
    org: Org, database_url: str
) -> None:
    imap = ServerProfile(name="IMAP", kind=ServerProfileKind.IMAP_SMTP, incoming_host="imap.x")
    graph = ServerProfile(name="365", kind=ServerProfileKind.EXCHANGE_ONLINE)
    org.use_profile(imap, {"dana": "p"})
    org.add_user("sam")
    org.use_profile(graph, {"sam": "p"})
    dana, sam = org.mailboxes["dana"], org.mailboxes["sam"]
    org.tidings.close()
    command.downgrade(alembic_config(database_url), "0024")
    engine = make_engine(database_url)
    with engine.begin() as db:
        # As an older version kept them: IMAP names as the server wrote them.
        for mailbox, folder in (
            (dana, "Entw&APw-rfe"),
            (dana, "R&-D"),
            (dana, "Projekte"),
            (dana, "Gel&APY-scht"),
            (dana, "Gelöscht"),  # both forms stored: the older one is left as it was
            (sam, "R&-D"),  # a mail API's name: "R&-D" is what Exchange calls it
        ):
            db.execute(
                text("INSERT INTO folder_rules (mailbox_id, folder) VALUES (:m, :f)"),
                {"m": mailbox, "f": folder},
            )
        db.execute(
            text(
                "INSERT INTO folder_cursors (mailbox_id, folder, uidvalidity, last_uid, "
                "updated_at) VALUES (:m, 'Entw&APw-rfe', 7, 42, CURRENT_TIMESTAMP)"
            ),
            {"m": dana},
        )
    upgrade(database_url)
    with engine.connect() as db:
        rules = db.execute(text("SELECT mailbox_id, folder FROM folder_rules")).all()
        cursors = db.execute(text("SELECT folder, last_uid FROM folder_cursors")).all()
    engine.dispose()
    assert sorted(rules) == sorted(
        [
            (dana, "Entwürfe"),
            (dana, "R&D"),
            (dana, "Projekte"),
            (dana, "Gel&APY-scht"),
            (dana, "Gelöscht"),
            (sam, "R&-D"),
        ]
    )
    assert cursors == [("Entwürfe", 42)]


@pytest.mark.parametrize("sent", ["Éléments envoyés", "Gesendete Objekte"])
def test_a_sent_folder_named_in_another_language_takes_the_copy(tmp_path: Path, sent: str) -> None:
    # The \Sent mark (RFC 6154) finds the folder; APPEND writes its name in modified UTF-7.
    with DovecotServer(tmp_path / "dovecot", {DANA: "dana-pass"}, sent_folder=sent) as dovecot:

        async def copy() -> str | None:
            session = await ImapFolderSession.sign_in(
                dovecot_profile(dovecot), Credential(DANA, "dana-pass")
            )
            try:
                found = await session.special_use_folder("\\Sent")
                if found is not None:
                    raw = make_email(subject="Copy", message_id="<copy@c.example>")
                    await session.append(found, raw)
                return found
            finally:
                await session.close()

        assert asyncio.run(copy()) == sent
        kept = dovecot.doveadm(
            "search", "-u", DANA, "mailbox", sent, "header", "Message-ID", "copy@c.example"
        )
    assert kept.strip(), f"the copy is not in {sent}"
