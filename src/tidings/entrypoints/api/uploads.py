"""Files uploaded as a request's body (imports): their format from the Content-Type, and
the body streamed to a temporary file, never held whole in memory."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO

from fastapi import HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool

from tidings.services.import_formats import ImportFormat

#: An upload larger than this is refused: 256 MiB of CSV is millions of records.
MAX_IMPORT_BYTES = 256 * 1024 * 1024
#: Uploads are kept in memory up to this size, then spooled to disk.
_SPOOL_BYTES = 1024 * 1024
_FORMATS = {
    "text/csv": ImportFormat.CSV,
    "application/json": ImportFormat.JSON,
    "application/x-ndjson": ImportFormat.JSON,
    "application/jsonl": ImportFormat.JSON,
}


def upload_format(request: Request) -> ImportFormat:
    """CSV or JSON, from the request's Content-Type; 415 for anything else."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = _FORMATS.get(media)
    if fmt is None:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send the file as text/csv, application/json or application/x-ndjson",
        )
    return fmt


@asynccontextmanager
async def spooled_body(request: Request) -> AsyncIterator[IO[bytes]]:
    """The request's body in a temporary file; 413 once it is larger than allowed."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_IMPORT_BYTES:
                raise HTTPException(413, f"an import file is at most {MAX_IMPORT_BYTES} bytes")
            await run_in_threadpool(spool.write, chunk)
        yield spool
