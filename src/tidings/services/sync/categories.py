"""The tracked category in a folder reached through a mail API (Graph, EWS, Gmail): read
from what each delta page reports of its messages' categories, written once onto what
Tidings tracked through the session's ``add_category``.

A page names each message it reports with its current categories (Graph ``categories``,
EWS ``Categories``, Gmail ``labelIds`` as label names); only a change from what Tidings last
saw of a kept message acts (``CategoryTracking``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from tidings.domain.errors import MailServerError, ThrottledError
from tidings.domain.mail_api import DeltaPage
from tidings.services.category_tracking import CategoryState, CategoryTracking
from tidings.services.sync.model import API_UIDVALIDITY, Ingested, SyncEvent, SyncTarget

log = logging.getLogger(__name__)

#: Categories written per round (the rest on the next one).
WRITE_LIMIT = 500


@runtime_checkable
class CategoryWriter(Protocol):
    """A mail-API session that can add a category to messages, keeping their others."""

    async def add_category(self, ids: Sequence[str], category: str) -> None: ...


class ApiCategories:
    """Reads and writes the tracked category of mail-API folders."""

    def __init__(
        self,
        categories: CategoryTracking,
        listener: Callable[[SyncEvent], None] | None = None,
        *,
        settings_max_age: float = 0.0,
    ) -> None:
        self._categories = categories
        self._listener = listener
        #: Seconds a round may go by the email configuration as an earlier one read it.
        self._settings_max_age = settings_max_age

    async def read(self, target: SyncTarget, page: DeltaPage) -> None:
        """Act on the categories a page reported, once its new messages are kept."""
        if not page.categories:
            return
        config = await self._categories.recent_settings(self._settings_max_age)
        if not config.use_tracked_category:
            return
        wanted = config.tracked_category.lower()
        states = [
            CategoryState(message_id, wanted in (c.lower() for c in categories))
            for message_id, categories in page.categories
        ]
        results = await asyncio.to_thread(
            self._categories.apply, target.mailbox_id, target.folder, API_UIDVALIDITY, states
        )
        if results and self._listener is not None:
            self._listener(Ingested(target, results))

    async def write(self, target: SyncTarget, session: object) -> None:
        """Write the category onto the folder's tracked email that lacks it."""
        if not isinstance(session, CategoryWriter):
            return
        config = await self._categories.recent_settings(self._settings_max_age)
        if not config.use_tracked_category:
            return
        pending = await asyncio.to_thread(
            self._categories.to_write,
            target.mailbox_id,
            target.folder,
            API_UIDVALIDITY,
            WRITE_LIMIT,
        )
        if not pending:
            return
        try:
            await session.add_category([uid for _, uid in pending], config.tracked_category)
        except ThrottledError:
            raise
        except MailServerError as error:  # sync goes on without it; the next round tries again
            where = f"{target.address}/{target.folder}"
            log.warning("%s: the category was not written: %s", where, error)
            return
        await asyncio.to_thread(self._categories.written, [raw for raw, _ in pending])
