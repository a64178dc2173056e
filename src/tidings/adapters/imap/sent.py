"""The copy of sent email, appended to the folder the server marks ``\\Sent`` (RFC 6154)."""

from __future__ import annotations

from tidings.adapters.imap.client import ImapFolderSession
from tidings.adapters.oauth.tokens import OAuthTokens
from tidings.domain.credentials import Credential
from tidings.domain.server_profile import ServerProfile


async def save_sent_copy(
    profile: ServerProfile,
    credential: Credential,
    folder: str,
    raw: bytes,
    *,
    tokens: OAuthTokens | None = None,
) -> str:
    """Append ``raw`` to the owner's Sent folder; ``folder`` is used when none is marked.

    Returns the folder the copy went to. Servers name that folder after the user's language
    ("Sent Items", "Gesendet" …), so the special-use mark is the only reliable way to find it.
    """
    session = await ImapFolderSession.sign_in(profile, credential, tokens=tokens)
    try:
        target = await session.special_use_folder("\\Sent") or folder
        await session.append(target, raw)
        return target
    finally:
        await session.close()
