"""The email configuration as the flag rounds read it from the event loop: from memory while
fresh enough, from storage (in a thread) otherwise."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.builders import Org
from tests.waiting import WAITED, answered_at_once
from tidings.services.category_tracking import CategoryTracking


def test_the_configuration_is_answered_from_memory_while_fresh_and_read_again_after(
    org: Org,
) -> None:
    categories = CategoryTracking(org.tidings.uow, org.tidings.clock)

    def turn_category(on: bool) -> None:
        with org.tidings.uow() as uow:
            uow.settings.save(replace(uow.settings.get(), use_tracked_category=on))
            uow.commit()

    async def scenario() -> None:
        turn_category(True)
        # Never read yet: read from storage, in a thread.
        assert answered_at_once(categories.recent_settings(3600)) is WAITED
        assert (await categories.recent_settings(3600)).use_tracked_category
        turn_category(False)
        # Fresh enough: what was read, without a wait, though storage has changed since.
        known = answered_at_once(categories.recent_settings(3600))
        assert known is not WAITED and known.use_tracked_category  # type: ignore[attr-defined]
        # Older than allowed: read again, and the change is seen.
        assert not (await categories.recent_settings(0)).use_tracked_category

    asyncio.run(scenario())
