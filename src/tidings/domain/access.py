"""Who may come in: sign-in sessions and API tokens (the throttle on failed sign-ins is
in ``sign_in_throttle``).

Session and API tokens are long random strings shown to their holder once; only their
SHA-256 digest is stored, so a copy of the database opens no door.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

#: A console session ends this long after sign-in, however active.
SESSION_LIFETIME = timedelta(hours=12)
#: ... and this long after its last request.
SESSION_IDLE_TIMEOUT = timedelta(hours=2)
#: Writing "last seen" on every request would make each page a write; once a minute is enough
#: for the idle timeout.
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)

#: API tokens carry this prefix so that secret scanners and people recognise them.
API_TOKEN_PREFIX = "tdg_"  # noqa: S105 (a label, not a secret)


def digest_token(token: str) -> str:
    """The stored form of a session or API token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignInSession:
    """A console sign-in: its token is the cookie, its CSRF token guards every form."""

    user_id: int
    token_digest: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    id: int | None = None

    def expires_at(self) -> datetime:
        return min(self.created_at + SESSION_LIFETIME, self.last_seen_at + SESSION_IDLE_TIMEOUT)

    def is_valid_at(self, now: datetime) -> bool:
        return now < self.expires_at()

    def needs_touch_at(self, now: datetime) -> bool:
        return now - self.last_seen_at >= SESSION_TOUCH_INTERVAL


@dataclass(frozen=True)
class ApiToken:
    """A token for the REST API, acting with its user's security roles."""

    user_id: int
    name: str
    token_digest: str
    #: The first characters of the token, enough for a person to tell tokens apart.
    hint: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    id: int | None = None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
