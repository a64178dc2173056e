""" "Track when sent": what a person asks for in the App for Outlook while writing an email.

A draft has no Message-ID the add-in can read, so the add-in writes a random token into the
draft's own header (``X-Tidings-Track``, through Office.js ``internetHeaders``); the sent copy
carries it, and ingest tracks that copy with the regarding record chosen while writing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from tidings.domain.records import RecordRef

#: The header the add-in sets on the draft; its value is the token of one request.
TRACK_HEADER = "X-Tidings-Track"
#: Tokens the add-in makes: 16 to 64 URL-safe characters.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class TrackWhenSent:
    """One person's request to track the email they are writing, once it is sent."""

    token: str
    user_id: int
    regarding: RecordRef | None
    created_at: datetime
    id: int | None = None


def is_token(value: str) -> bool:
    """Whether ``value`` is a token as the add-in makes them."""
    return TOKEN_PATTERN.fullmatch(value) is not None
