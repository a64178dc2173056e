"""exchangelib is synchronous: its calls run in threads, their failures translated.

Short calls share asyncio's default executor. A GetStreamingEvents connection blocks its
thread for up to 30 minutes, so it gets a thread of its own: many listening folders must not
take the workers that storage and the other calls wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

import requests
import urllib3
from exchangelib import errors as ews

from tidings.adapters.ews.errors import Context, translate

T = TypeVar("T")

#: What a connection failing under exchangelib raises: requests' errors, and urllib3's when
#: a streamed response breaks mid-read.
CONNECTION_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError)


async def in_thread(context: Context, work: Callable[[], T]) -> T:
    """Run blocking exchangelib work in the default executor, its failures translated."""
    try:
        return await asyncio.to_thread(work)
    except (ews.EWSError, *CONNECTION_ERRORS) as error:
        raise translate(error, context) from error


async def in_own_thread(context: Context, work: Callable[[], T]) -> T:
    """Run long blocking work in a daemon thread of its own; cancelling the wait leaves
    the thread to end when its work does (close the connection to make that soon)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = work(), None
        except BaseException as failed:  # handed to the waiting coroutine
            result, error = None, failed
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="ews-streaming", daemon=True).start()
    try:
        return await future
    except (ews.EWSError, *CONNECTION_ERRORS) as error:
        raise translate(error, context) from error
