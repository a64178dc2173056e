"""Password hashing with Argon2id, at one of RFC 9106's costs (argon2-cffi's profiles)."""

from __future__ import annotations

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

#: The costs ``TIDINGS_PASSWORD_HASHING`` names. A hash keeps its own parameters, so a
#: password hashed at one cost still verifies after the setting changes.
COSTS = {
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,
    "rfc9106-high-memory": profiles.RFC_9106_HIGH_MEMORY,
    # A test suite signs in thousands of times; 64 MiB and three passes each is minutes.
    "cheapest": profiles.CHEAPEST,
}


class Argon2PasswordHasher:
    """Hashes and checks passwords; a wrong password and a damaged hash both fail closed."""

    def __init__(self, cost: str = "rfc9106-low-memory") -> None:
        self._hasher = PasswordHasher.from_parameters(COSTS[cost])

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made at another cost than the one configured now."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return False
