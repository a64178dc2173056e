"""Looking up kept email by where it came from, for many folders in one go: each origin
gets its own row, whatever the number of folders and values, and on PostgreSQL one
statement text serves any number of folders (compiled, cached and prepared once)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.builders import Org, statements_run
from tidings.adapters.storage.chunking import MAX_GROUPS, MAX_VALUES
from tidings.domain.message import MessageOrigin
from tidings.domain.records import MAX_ADDRESS_LENGTH, Contact, RecordKind, RecordRef
from tidings.domain.stored import NewRaw

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _keep(org: Org, origins: list[MessageOrigin]) -> list[int]:
    items = [
        NewRaw(origin, b"Subject: x\r\n\r\nx", f"<{n}@g.example>", f"hash-{n}", NOW)
        for n, origin in enumerate(origins)
    ]
    with org.tidings.uow() as uow:
        ids = uow.raw_messages.add_many(items)
        uow.commit()
    return ids


def test_origins_of_more_folders_and_uids_than_a_statement_holds_each_find_their_own(
    org: Org,
) -> None:
    dana = org.mailboxes["dana"]
    folders = [f"Folder {n}" for n in range(MAX_GROUPS + 10)]
    # The same UIDs in every folder, and one folder with more UIDs than one statement binds.
    kept = [MessageOrigin(dana, folder, 7, str(uid)) for folder in folders for uid in (1, 2)]
    kept += [MessageOrigin(dana, "Big", 7, str(uid)) for uid in range(MAX_VALUES + 50)]
    ids = dict(zip(kept, _keep(org, kept), strict=True))
    # A further origin of the first email: found through the second table.
    further = MessageOrigin(dana, "Elsewhere", 7, "1")
    with org.tidings.uow() as uow:
        uow.raw_messages.add_origins([(further, ids[kept[0]])], NOW)
        uow.commit()
    unknown = [
        MessageOrigin(dana, folders[0], 7, "3"),  # no such UID
        MessageOrigin(dana, folders[0], 8, "1"),  # another UIDVALIDITY
        MessageOrigin(dana, "Nowhere", 7, "1"),
    ]
    asked = [*kept, further, *unknown]

    with org.tidings.uow() as uow:
        found = uow.raw_messages.ids_by_origins(asked)

    assert found == {**ids, further: ids[kept[0]]}


def test_one_statement_text_serves_any_number_of_folders_on_postgresql(org: Org) -> None:
    dana = org.mailboxes["dana"]
    origins = [MessageOrigin(dana, f"Folder {n}", 7, "1") for n in range(40)]
    ids = _keep(org, origins)
    texts: set[str] = set()
    for count in (1, 2, 7, 40):
        with statements_run(org.tidings.engine) as seen, org.tidings.uow() as uow:
            found = uow.raw_messages.ids_by_origins(origins[:count])
        assert found == dict(zip(origins[:count], ids[:count], strict=True))
        texts.update(seen)
    lookups = [text for text in texts if "FROM raw_messages" in text]
    if org.tidings.engine.dialect.name == "postgresql":
        assert len(lookups) == 1, lookups
    else:  # SQLite keeps a branch per folder: a text per number of folders
        assert len(lookups) == 4, lookups


def test_a_name_longer_than_the_column_finds_no_stored_name_it_begins_with(org: Org) -> None:
    dana = org.mailboxes["dana"]
    stored = MessageOrigin(dana, "F" * 200, 7, "1")  # as long as a folder name is kept
    (stored_id,) = _keep(org, [stored])
    longer = MessageOrigin(dana, "F" * 250, 7, "1")  # cut to 200, it would be the same name
    many = [MessageOrigin(dana, f"Folder {n}", 7, "1") for n in range(3)]

    with org.tidings.uow() as uow:
        alone = uow.raw_messages.ids_by_origins([longer])
        together = uow.raw_messages.ids_by_origins([longer, stored, *many])

    assert alone == {}
    assert together == {stored: stored_id}


def test_an_address_longer_than_any_stored_resolves_to_no_record_it_begins_with(
    org: Org,
) -> None:
    # A record may hold an address as long as the column; a sender's may be longer still.
    domain = "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 63 + "." + "g" * 60 + ".example"
    kept = ("a" * (MAX_ADDRESS_LENGTH - len(domain))) + domain
    assert len(kept) == MAX_ADDRESS_LENGTH
    with org.tidings.uow() as uow:
        contact = uow.directory.add_contact(Contact("Long Address", (kept,), None))
        uow.commit()
    longer = kept + "x"

    with org.tidings.uow() as uow:
        alone = uow.directory.records_by_address([longer])
        found = uow.directory.records_by_address([longer, kept, "maria@contoso.example"])

    assert alone == {}
    assert found == {
        kept: [RecordRef(RecordKind.CONTACT, contact)],
        "maria@contoso.example": [org.records["maria"]],
    }
