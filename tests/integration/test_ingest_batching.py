"""Folders' fetches ingested together (services/sync/batching.py), against real storage."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tests.builders import Org, make_email
from tests.conftest import settings_for
from tidings.bootstrap import bootstrap
from tidings.domain.message import MessageOrigin
from tidings.services.sync.batching import IngestBatcher
from tidings.services.tracking.results import IngestResult


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
        sizes: list[int] = []
        ingest_batch = tidings.ingest.ingest_batch

        def counted(batch: Sequence[tuple[bytes, MessageOrigin]]) -> list[IngestResult]:
            sizes.append(len(batch))
            return ingest_batch(batch)

        tidings.ingest.ingest_batch = counted  # type: ignore[method-assign]
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
