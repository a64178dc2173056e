"""Which tracked email still lacks the category, asked for many folders' new UIDs at once
(the flag rounds of many pushed folders share one statement): each folder gets its own."""

from __future__ import annotations

from tests.builders import Org, make_email
from tidings.domain.message import MessageOrigin
from tidings.domain.tracking import Outcome
from tidings.services.category_tracking import CategoryTracking


def test_the_new_uids_of_many_folders_are_looked_at_together_each_folder_its_own(
    org: Org,
) -> None:
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    dana = org.mailboxes["dana"]
    # Tracked email in three folders' numberings, the same UIDs in each.
    placed = [("INBOX", 1, "1"), ("INBOX", 1, "2"), ("INBOX", 1, "3")]
    placed += [("Contoso", 1, "1"), ("Contoso", 1, "2"), ("INBOX", 2, "1")]
    batch = [
        (
            make_email(message_id=f"<{folder}-{validity}-{uid}@c.example>", subject=f"{uid}"),
            MessageOrigin(dana, folder, validity, uid),
        )
        for folder, validity, uid in placed
    ]
    results = org.tidings.ingest.ingest_batch(batch)
    assert [r.outcome for r in results] == [Outcome.TRACKED] * len(placed)
    raw = {place: r.raw_message_id for place, r in zip(placed, results, strict=True)}
    categories = CategoryTracking(org.tidings.uow, org.tidings.clock)
    categories.record_written([(raw[("INBOX", 1, "2")], None)])  # written: never again

    found = categories.to_write_many(
        [
            (dana, "INBOX", 1, ("1", "2", "9")),
            (dana, "Contoso", 1, ("2",)),
            (dana, "INBOX", 2, None),  # a whole look, beside the narrow ones
            (dana, "INBOX", 1, ("3",)),  # the same folder asked twice: each its own UIDs
            (dana, "Archive", 1, ("1",)),  # nothing kept there
        ]
    )

    assert found == [
        [(raw[("INBOX", 1, "1")], "1")],
        [(raw[("Contoso", 1, "2")], "2")],
        [(raw[("INBOX", 2, "1")], "1")],
        [(raw[("INBOX", 1, "3")], "3")],
        [],
    ]
    # At most ``limit`` a folder, the oldest first.
    assert categories.to_write_many([(dana, "INBOX", 1, ("3", "1"))], limit=1) == [
        [(raw[("INBOX", 1, "1")], "1")]
    ]
