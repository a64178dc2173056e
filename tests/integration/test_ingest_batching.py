"""Folders' fetches ingested together (services/sync/batching.py), against real storage."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from tests.builders import Org, make_email
from tests.conftest import settings_for
from tidings.bootstrap import Tidings, bootstrap
from tidings.domain.message import HeaderSummary, MessageOrigin
from tidings.domain.people import TrackIncoming
from tidings.domain.tracking import Outcome
from tidings.services.departures import Departures
from tidings.services.sync.batching import IngestBatcher, Ingested
from tidings.services.tracking.results import IngestResult


def _batch_sizes(tidings: Tidings) -> list[int]:
    """The number of emails of each batch ``tidings`` ingests from now on."""
    sizes: list[int] = []
    ingest_batch = tidings.ingest.ingest_batch

    def counted(
        batch: Sequence[tuple[bytes, MessageOrigin]],
        headers: Sequence[HeaderSummary | None] | None = None,
    ) -> list[IngestResult]:
        sizes.append(len(batch))
        return ingest_batch(batch, headers)

    tidings.ingest.ingest_batch = counted  # type: ignore[method-assign]
    return sizes


def test_what_folders_hand_over_meanwhile_is_one_batch_and_each_gets_its_own_results(
    database_url: str,
) -> None:
    # Three folders each fetched an email at the same moment (three pushes): one batch of
    # three is ingested, and each folder gets back the result of its own email.
    tidings = bootstrap(settings_for(database_url))
    try:
        org = Org.create(tidings)
        for name in ("sam", "kim"):
            org.add_user(name)
        sizes = _batch_sizes(tidings)
        batcher = IngestBatcher(tidings.ingest)
        folders = {
            name: [
                (
                    make_email(subject=f"For {name}", message_id=f"<{name}@c.example>"),
                    MessageOrigin(org.mailboxes[name], "INBOX", 1, "1"),
                )
            ]
            for name in ("dana", "sam", "kim")
        }

        async def push_all() -> list[list[IngestResult]]:
            return await asyncio.gather(*(batcher.ingest(e) for e in folders.values()))

        results = asyncio.run(push_all())
        assert sizes == [3]
        with tidings.uow() as uow:
            kept = [[uow.raw_messages.require(r.raw_message_id) for r in one] for one in results]
        assert [[stored.message_id for stored in one] for one in kept] == [
            ["<dana@c.example>"],
            ["<sam@c.example>"],
            ["<kim@c.example>"],
        ]
    finally:
        tidings.close()


def test_one_read_per_batch_finds_which_new_emails_another_folder_holds_too(
    database_url: str,
) -> None:
    # dana's email is already kept in her Archive: its copy arriving in the Inbox may be
    # the other half of a move. One screen of the whole batch says so, for her folder only.
    tidings = bootstrap(settings_for(database_url))
    try:
        org = Org.create(tidings)
        org.add_user("sam")
        quote = make_email(subject="Quote", message_id="<quote@c.example>")
        tidings.ingest.ingest(quote, MessageOrigin(org.mailboxes["dana"], "Archive", 1, "7"))
        screens: list[list[int]] = []
        departures = Departures(tidings.uow, tidings.clock)

        def screen(raw_ids: Sequence[int]) -> set[int]:
            screens.append(sorted(raw_ids))
            return departures.copies_elsewhere(raw_ids)

        batcher = IngestBatcher(tidings.ingest, screen=screen)
        handed = [
            [(quote, MessageOrigin(org.mailboxes["dana"], "INBOX", 1, "1"))],
            [
                (
                    make_email(subject="Hi", message_id="<hi@c.example>"),
                    MessageOrigin(org.mailboxes["sam"], "INBOX", 1, "1"),
                )
            ],
        ]

        async def push_all() -> list[Ingested]:
            return await asyncio.gather(*(batcher.ingest_screened(e) for e in handed))

        dana, sam = asyncio.run(push_all())
        [dana_copy] = dana.results
        assert dana.elsewhere == {dana_copy.raw_message_id}
        assert sam.elsewhere == frozenset()
        assert len(screens) == 1 and len(screens[0]) == 2
    finally:
        tidings.close()


def test_a_prepared_batch_is_ingested_with_the_headers_read_when_it_was_fetched(
    database_url: str,
) -> None:
    # A first sync prepares each chunk as soon as it is fetched: its header blocks are read
    # while the chunk before is ingested. Ingest then uses what was read, not a second read,
    # and every email is kept under its own Message-ID.
    tidings = bootstrap(settings_for(database_url))
    try:
        org = Org.create(tidings)
        reads = _header_reads(tidings)
        batcher = IngestBatcher(tidings.ingest)
        emails = [
            (
                make_email(subject=f"Order {n}", message_id=f"<order-{n}@c.example>"),
                MessageOrigin(org.mailboxes["dana"], "INBOX", 1, str(n)),
            )
            for n in range(1, 6)
        ]

        async def fetched_then_ingested() -> list[IngestResult]:
            prepared = batcher.prepare(emails)
            assert reads == [["1", "2", "3", "4", "5"]]  # before the batch is handed over
            return await batcher.ingest(prepared)

        results = asyncio.run(fetched_then_ingested())
        assert reads == [["1", "2", "3", "4", "5"]]
        with tidings.uow() as uow:
            kept = [uow.raw_messages.require(r.raw_message_id).message_id for r in results]
        assert kept == [f"<order-{n}@c.example>" for n in range(1, 6)]
    finally:
        tidings.close()


def test_pushed_emails_of_many_folders_have_their_header_blocks_read_in_one_go(
    database_url: str,
) -> None:
    # Three folders hand over at once: one a prepared chunk of a first sync, two a pushed
    # email each. The two pushes' header blocks are read together, not one read each, and
    # each email is kept with its own headers.
    tidings = bootstrap(settings_for(database_url))
    try:
        org = Org.create(tidings)
        for name in ("sam", "kim"):
            org.add_user(name)
        reads = _header_reads(tidings)
        batcher = IngestBatcher(tidings.ingest)
        folders = {
            name: [
                (
                    make_email(subject=f"For {name}", message_id=f"<{name}-{n}@c.example>"),
                    MessageOrigin(org.mailboxes[name], "INBOX", 1, f"{name}-{n}"),
                )
                for n in range(count)
            ]
            for name, count in (("dana", 3), ("sam", 1), ("kim", 1))
        }

        async def hand_over() -> list[list[IngestResult]]:
            prepared = batcher.prepare(folders["dana"])
            return await asyncio.gather(
                batcher.ingest(prepared),
                batcher.ingest(folders["sam"]),
                batcher.ingest(folders["kim"]),
            )

        results = asyncio.run(hand_over())
        assert reads == [["dana-0", "dana-1", "dana-2"], ["sam-0", "kim-0"]]
        with tidings.uow() as uow:
            kept = [
                [uow.raw_messages.require(r.raw_message_id).message_id for r in one]
                for one in results
            ]
        assert kept == [
            ["<dana-0@c.example>", "<dana-1@c.example>", "<dana-2@c.example>"],
            ["<sam-0@c.example>"],
            ["<kim-0@c.example>"],
        ]
    finally:
        tidings.close()


def _header_reads(tidings: Tidings) -> list[list[str]]:
    """Each read of header blocks that ingest starts from now on, by the UIDs it reads."""
    reads: list[list[str]] = []
    start_headers = tidings.ingest.start_headers

    def counted(
        batch: Sequence[tuple[bytes, MessageOrigin]],
    ) -> Callable[[], list[HeaderSummary | None]]:
        reads.append([origin.uid for _, origin in batch])
        return start_headers(batch)

    tidings.ingest.start_headers = counted  # type: ignore[method-assign]
    return reads


def test_a_batch_of_many_mailboxes_decides_each_email_by_its_own_mailbox(
    database_url: str,
) -> None:
    # Pushes to four mailboxes go as one batch, whose mailboxes, owners and folder rules
    # are read together: each email still goes by its own owner's option, its own queue,
    # its own folder's rule.
    tidings = bootstrap(settings_for(database_url))
    try:
        org = Org.create(tidings)
        org.add_user("sam", TrackIncoming.NONE)
        org.add_user("kim", TrackIncoming.NONE)
        org.add_queue("support")
        org.add_folder_rule("kim", "Projects", org.records["deal"])
        batch = [
            (
                make_email(subject=f"For {name}", message_id=f"<{name}@c.example>"),
                MessageOrigin(org.mailboxes[name], folder, 1, "1"),
            )
            for name, folder in (
                ("dana", "INBOX"),
                ("sam", "INBOX"),
                ("support", "INBOX"),
                ("kim", "Projects"),
            )
        ]
        results = tidings.ingest.ingest_batch(batch)
        assert [r.outcome for r in results] == [
            Outcome.TRACKED,
            Outcome.NOT_TRACKED,
            Outcome.TRACKED,
            Outcome.TRACKED,
        ]
        kim = results[3].activity_id
        assert kim is not None
        assert tidings.queries.activity(kim).activity.regarding == org.records["deal"]
        dana = results[0].activity_id
        assert dana is not None
        assert tidings.queries.activity(dana).activity.regarding != org.records["deal"]
    finally:
        tidings.close()


def test_a_batch_holds_at_most_so_many_bytes(database_url: str) -> None:
    # Three folders hand over an email each: with room for two emails' bytes, two batches.
    tidings = bootstrap(settings_for(database_url))
    try:
        org = Org.create(tidings)
        for name in ("sam", "kim"):
            org.add_user(name)
        sizes = _batch_sizes(tidings)
        emails = {
            name: make_email(subject=f"For {name}", message_id=f"<{name}@c.example>")
            for name in ("dana", "sam", "kim")
        }
        room = sum(len(raw) for raw in emails.values()) - 1
        batcher = IngestBatcher(tidings.ingest, max_bytes=room)

        async def push_all() -> list[list[IngestResult]]:
            return await asyncio.gather(
                *(
                    batcher.ingest([(raw, MessageOrigin(org.mailboxes[name], "INBOX", 1, "1"))])
                    for name, raw in emails.items()
                )
            )

        results = asyncio.run(push_all())
        assert sizes == [2, 1]
        assert [len(one) for one in results] == [1, 1, 1]
    finally:
        tidings.close()
