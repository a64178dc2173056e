"""Files the console hands out: always as a download (never shown in the page's origin),
under a safe name, with a content type the browser may not second-guess."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi.responses import Response

from tidings.domain.filenames import safe_filename

#: type/subtype with RFC 6838's characters; anything else is served as opaque bytes.
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_UNSAFE_IN_QUOTES = re.compile(r'[^\x20-\x7e]|["\\%;]')


def download(content: bytes, filename: str, content_type: str) -> Response:
    """``content`` as an attachment (RFC 6266): an ASCII name for old clients, the
    UTF-8 name (RFC 5987) for the others."""
    name = safe_filename(filename) or "attachment"
    fallback = _UNSAFE_IN_QUOTES.sub("_", name)
    media = content_type.strip().lower()
    if not _MEDIA_TYPE.fullmatch(media):
        media = "application/octet-stream"
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
    return Response(
        content,
        media_type=media,
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            # Whatever it is, it runs nothing in the console's origin.
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
