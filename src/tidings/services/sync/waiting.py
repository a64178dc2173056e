"""Waiting in a folder task so that a stop is never held up: for a change, or for a while."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

from tidings.domain.sync import SyncMode
from tidings.services.sync.model import FolderSession


def waiting_mode(session: FolderSession) -> SyncMode:
    """How a caught-up IMAP folder waits for news: IDLE where the server offers it."""
    return SyncMode.IDLE if getattr(session, "supports_idle", False) else SyncMode.POLLING


def retrieve(future: asyncio.Future[object]) -> None:
    """Done callback that reads a cancelled future's error, so none is "never retrieved"."""
    if not future.cancelled():
        future.exception()


async def until_stopped(waiting_for: Awaitable[bool], stop: asyncio.Event) -> bool:
    """Await ``waiting_for`` unless ``stop`` is set first; False when stopped. Its errors
    (a lost connection) are raised."""
    waiting = asyncio.ensure_future(waiting_for)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in (waiting, stopping):
            future.cancel()
            # A loss racing a stop or a cancel would otherwise be "never retrieved".
            future.add_done_callback(retrieve)  # type: ignore[arg-type]
    if waiting not in done:
        return False
    waiting.result()  # raises MailServerError if the connection was lost
    return True


async def sleep_unless_stopped(
    stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None
) -> None:
    """Sleep ``seconds`` unless ``stop`` (or ``wake``) is set first."""
    if wake is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        return
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
