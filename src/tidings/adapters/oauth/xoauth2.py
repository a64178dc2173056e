"""The SASL XOAUTH2 initial response, as Google and Microsoft document it.

``user=<address>^Aauth=Bearer <token>^A^A`` (``^A`` is the byte 0x01), base64-encoded on the
wire: https://developers.google.com/gmail/imap/xoauth2-protocol and
https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
"""

from __future__ import annotations

import base64


def initial_response(address: str, token: str) -> bytes:
    """The client's first (and only) message, before base64."""
    return f"user={address}\x01auth=Bearer {token}\x01\x01".encode()


def encoded_response(address: str, token: str) -> str:
    """The initial response as it goes on the wire."""
    return base64.b64encode(initial_response(address, token)).decode("ascii")
