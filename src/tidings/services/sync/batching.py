"""Emails fetched by many folders at once, ingested together: one batch, not one per folder.

A push brings one email to one folder; a thousand folders under a steady flow of mail would
each ingest a batch of one, every one two transactions of its own (keep the raw bytes, then
decide and record), and on SQLite each a turn of the one write lock. Instead, whatever the
folders hand over while a batch is being ingested waits, and goes together as the next
batch, up to ``max_emails``: the busier the server, the larger the batches, and the cost per
email falls towards what bulk ingest pays. A folder alone still goes at once.

A folder may hand over a ``Prepared`` batch: one whose header blocks the parse processes
started reading as soon as it was fetched (``prepare``), while the batch before was still
being ingested. The header blocks of everything else in a batch are read together, in one
task per parse process: a task per pushed email would cost the pool a wake-up each.

With a ``screen`` (what the new emails of a batch are held in another folder too, the
arriving half of a move), that one read serves the whole batch as well, rather than one
per folder.

Each folder gets back the results of its own emails, in its order, or the error of the
batch: ingest parks an email that fails on its own, so what fails a whole batch is storage,
and every folder of the batch then retries as it would have alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tidings.domain.message import HeaderSummary, MessageOrigin
from tidings.services.sync.waiting import retrieve
from tidings.services.tracking.pipeline import IngestService
from tidings.services.tracking.results import IngestResult

Batch = Sequence[tuple[bytes, MessageOrigin]]

#: Emails ingested together at most (a first sync's chunk is one batch of its own).
MAX_EMAILS = 100
#: Bytes of email ingested together at most: the parse processes get a copy of each.
MAX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Ingested:
    """One folder's part of a batch: its results, in its order, and which of its new
    emails the ``screen`` found held in another folder too."""

    results: list[IngestResult]
    elsewhere: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Prepared:
    """A batch whose header blocks are being read; ``headers()`` waits for them."""

    emails: Batch
    headers: Callable[[], list[HeaderSummary | None]]


@dataclass
class _Handed:
    emails: Batch
    #: Reading since the batch was prepared; None: read with the rest of the batch.
    headers: Callable[[], list[HeaderSummary | None]] | None
    results: asyncio.Future[Ingested] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def bytes(self) -> int:
        return sum(len(raw) for raw, _ in self.emails)


class IngestBatcher:
    """Ingests what folders hand over, what arrives meanwhile gathered into one batch."""

    def __init__(
        self,
        ingest: IngestService,
        *,
        max_emails: int = MAX_EMAILS,
        max_bytes: int = MAX_BYTES,
        screen: Callable[[Sequence[int]], set[int]] | None = None,
    ) -> None:
        self._ingest = ingest
        self._max_emails = max_emails
        self._max_bytes = max_bytes
        self._screen = screen
        self._waiting: list[_Handed] = []
        self._draining: asyncio.Task[None] | None = None

    def prepare(self, emails: Batch) -> Prepared:
        """Start reading the header blocks of a batch that will be handed over later."""
        return Prepared(emails, self._ingest.start_headers(emails))

    async def ingest(self, emails: Batch | Prepared) -> list[IngestResult]:
        """Ingest ``emails`` (in a thread, with what other folders hand over meanwhile)."""
        return (await self.ingest_screened(emails)).results

    async def ingest_screened(self, emails: Batch | Prepared) -> Ingested:
        """``ingest``, with what the screen found of these emails."""
        if isinstance(emails, Prepared):
            handed = _Handed(emails.emails, emails.headers)
        else:
            handed = _Handed(emails, None)
        if not handed.emails:
            return Ingested([])
        self._waiting.append(handed)
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        # A folder task cancelled while waiting leaves its emails to the batch: ingest is
        # idempotent, and the folder's cursor did not move.
        return await asyncio.shield(handed.results)

    async def _drain(self) -> None:
        while self._waiting:
            taken: list[_Handed] = []
            size = held = 0
            while self._waiting and (
                not taken
                or (
                    size + len(self._waiting[0].emails) <= self._max_emails
                    and held + self._waiting[0].bytes <= self._max_bytes
                )
            ):
                handed = self._waiting.pop(0)
                taken.append(handed)
                size += len(handed.emails)
                held += handed.bytes
            try:
                results, elsewhere = await asyncio.to_thread(self._ingest_and_screen, taken)
            except BaseException as error:  # the whole batch failed: each folder retries
                for handed in taken:
                    handed.results.set_exception(error)
                    handed.results.add_done_callback(retrieve)  # type: ignore[arg-type]
                if not isinstance(error, Exception):
                    for handed in self._waiting:  # stopping: nothing more is ingested
                        handed.results.cancel()
                    self._waiting.clear()
                    raise
                continue
            start = 0
            for handed in taken:
                own = results[start : start + len(handed.emails)]
                found = frozenset(r.raw_message_id for r in own) & elsewhere
                handed.results.set_result(Ingested(own, found))
                start += len(handed.emails)

    def _ingest_and_screen(self, taken: list[_Handed]) -> tuple[list[IngestResult], frozenset[int]]:
        emails = [email for handed in taken for email in handed.emails]
        unread = [email for handed in taken if handed.headers is None for email in handed.emails]
        rest = iter(self._ingest.start_headers(unread)() if unread else [])
        read: list[HeaderSummary | None] = []
        for handed in taken:
            if handed.headers is not None:
                read += handed.headers()
            else:
                read += [next(rest) for _ in handed.emails]
        results = self._ingest.ingest_batch(emails, read)
        new = [r.raw_message_id for r in results if not r.repeated]
        if self._screen is None or not new:
            return results, frozenset()
        return results, frozenset(self._screen(new))
