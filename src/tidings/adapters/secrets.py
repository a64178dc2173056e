"""Credentials encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``).

Keys come from ``TIDINGS_SECRET_KEYS`` (comma-separated, newest first) or from a key file
created on first use with mode 0600. Several keys make rotation possible: every key can
decrypt, only the first encrypts, and ``rotate`` re-encrypts a stored secret with it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from typing_extensions import override

from tidings.domain.errors import SecretError

__all__ = ["FernetSecretBox", "SecretError"]


class FernetSecretBox:
    """Seals and opens secrets; plaintext never leaves this object except to its caller."""

    def __init__(self, keys: list[bytes], source: str = "given") -> None:
        """``source`` says where the keys came from, for the error a bad one raises."""
        if not keys:
            raise SecretError(f"no encryption key for stored credentials {source}")
        fernets = []
        for number, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                # The key itself is never repeated: it guards every stored password.
                raise SecretError(
                    f"encryption key {number} of {len(keys)} {source} is not a Fernet key "
                    "(32 bytes in URL-safe base64, 44 characters ending in '=')"
                ) from None
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_environment(cls, keys_text: str | None, key_file: Path) -> FernetSecretBox:
        """Keys from ``keys_text`` if given, else from ``key_file`` (created if missing)."""
        if keys_text:
            keys = [key.strip().encode() for key in keys_text.split(",") if key.strip()]
            return cls(keys, "in TIDINGS_SECRET_KEYS")
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(Fernet.generate_key() + b"\n")
        lines = key_file.read_bytes().split()
        return cls([line for line in lines if line], f"in {key_file}")

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as error:
            raise SecretError(
                "a stored credential cannot be decrypted with the configured keys; "
                "restore the key it was sealed with or enter the password again"
            ) from error

    def rotate(self, sealed: str) -> str:
        """The same secret sealed with the newest key."""
        try:
            return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")
        except InvalidToken as error:
            raise SecretError("a stored credential cannot be rotated: its key is gone") from error

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode("ascii")

    @override
    def __repr__(self) -> str:
        return "FernetSecretBox(<keys hidden>)"
