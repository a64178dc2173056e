"""The sign-in form's CSRF token: a signed double-submit pair, since no session exists yet.

The form carries a random nonce; a cookie carries the same nonce sealed with the server's
key (authenticated encryption, so no one else can make one) and the time it was issued. A
sign-in is taken only when the two match: a page on another site can make a browser post
the form, but it can neither read the cookie nor plant one it could match. This stops
*login CSRF*, signing a victim in as the attacker so that what they enter lands in the
attacker's account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tidings.domain.errors import TidingsError
from tidings.services.ports import Clock, SecretBox

#: A sign-in form older than this is refused: reloading the page gives a fresh one.
FORM_LIFETIME = timedelta(hours=12)
_PURPOSE = "sign-in-form"


@dataclass(frozen=True)
class SignInFormToken:
    """What goes into the cookie (``cookie``) and into the form (``field``)."""

    cookie: str
    field: str


class SignInForms:
    """Issues and checks sign-in form tokens, valid in every process that shares the key."""

    def __init__(self, box: SecretBox, clock: Clock) -> None:
        self._box = box
        self._clock = clock

    def issue(self) -> SignInFormToken:
        nonce = secrets.token_urlsafe(24)
        issued = self._clock.now().timestamp()
        return SignInFormToken(self._box.seal(f"{_PURPOSE}:{nonce}:{issued:.0f}"), nonce)

    def check(self, cookie: str | None, field: str | None) -> bool:
        """Whether a posted form's ``field`` matches the browser's ``cookie``, in time."""
        if not cookie or not field:
            return False
        try:
            purpose, nonce, issued = self._box.open(cookie).split(":")
            issued_at = datetime.fromtimestamp(int(issued), tz=UTC)
        except (TidingsError, ValueError):
            return False
        fresh = self._clock.now() - issued_at < FORM_LIFETIME
        return purpose == _PURPOSE and fresh and secrets.compare_digest(nonce, field)
