"""Parsing email off the main process: the CPU-heavy, pure part of ingest, on every core.

Deciding and recording need the database and stay in one process; reading MIME is pure and
costs more than everything else together, so it runs in a pool of worker processes while
the main process works on the database. ``InlineParser`` does the same work in-process, for
one-core machines and short-lived commands.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from tidings.domain.message import (
    HeaderSummary,
    ParsedEmail,
    parse_email,
    split_header_block,
    try_parse_headers,
)


def _leave_interrupts_to_the_parent() -> None:
    # Ctrl-C reaches the whole process group; the parent shuts the pool down in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class InlineParser:
    """Parses in the calling process, when the result is asked for."""

    def start_headers_many(self, raws: Sequence[bytes]) -> Callable[[], list[HeaderSummary | None]]:
        return lambda: [try_parse_headers(raw) for raw in raws]

    def start_email(self, raw: bytes) -> Callable[[], ParsedEmail]:
        return lambda: parse_email(raw)

    def warm_up(self) -> None:
        """Nothing to start."""

    def close(self) -> None:
        """Nothing to release."""


class ProcessPoolParser:
    """Parses in ``workers`` processes; results are awaited only when needed."""

    def __init__(self, workers: int) -> None:
        # forkserver: never fork a process that may hold threads (the web server's pool).
        context = multiprocessing.get_context("forkserver")
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_leave_interrupts_to_the_parent
        )
        self._workers = workers

    def start_headers_many(self, raws: Sequence[bytes]) -> Callable[[], list[HeaderSummary | None]]:
        # Only the header blocks travel, in a few large chunks: a task per email would cost
        # more in messaging than the parsing it moves.
        blocks = [split_header_block(raw) for raw in raws]
        chunk = max(1, len(blocks) // (2 * self._workers))
        results = self._pool.map(try_parse_headers, blocks, chunksize=chunk)
        return lambda: list(results)

    def start_email(self, raw: bytes) -> Callable[[], ParsedEmail]:
        future: Future[ParsedEmail] = self._pool.submit(parse_email, raw)
        return future.result

    def warm_up(self) -> None:
        """Start every worker now rather than on the first email (they import on start)."""
        list(self._pool.map(try_parse_headers, [b""] * self._workers))

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
