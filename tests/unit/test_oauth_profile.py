"""OAuth server profiles as an admin enters them: what is missing is named."""

from __future__ import annotations

import pytest

from tidings.adapters.oauth.xoauth2 import encoded_response, initial_response
from tidings.domain.credentials import (
    Credential,
    CredentialKey,
    CredentialScope,
    Direction,
    client_secret_key,
    credential_keys,
)
from tidings.domain.errors import ValidationError
from tidings.domain.server_profile import (
    CredentialSource,
    ServerProfile,
    ServerProfileKind,
    check_server_profile,
)

TOKEN_URL = "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token"


def _profile(**options: str) -> ServerProfile:
    return ServerProfile(
        name="Exchange Online over IMAP",
        kind=ServerProfileKind.IMAP_SMTP,
        incoming_host="outlook.office365.com",
        outgoing_host="smtp.office365.com",
        credential_source=CredentialSource.OAUTH,
        options=options,
        id=7,
    )


def test_a_complete_oauth_profile_passes() -> None:
    # token_url and client_id are enough; scope is optional.
    profile = _profile(token_url=TOKEN_URL, client_id="1b2c")
    assert check_server_profile(profile) is profile


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"client_id": "1b2c"},
            "OAuth sign-in needs the token endpoint of the authorization server (token_url)",
        ),
        (
            {"token_url": TOKEN_URL},
            "OAuth sign-in needs the client id (client_id) of the app registered "
            "with the authorization server",
        ),
        (
            {"token_url": "http://login.example/token", "client_id": "1b2c"},
            "the token endpoint (token_url) must be an https:// URL: refresh tokens travel to it",
        ),
    ],
)
def test_a_missing_or_unsafe_field_is_named(options: dict[str, str], message: str) -> None:
    # Each field an admin forgot gets its own sentence.
    with pytest.raises(ValidationError) as error:
        check_server_profile(_profile(**options))
    assert str(error.value) == message


def test_oauth_is_refused_for_profiles_without_xoauth2() -> None:
    # POP3 profiles have no XOAUTH2 path in Tidings.
    profile = _profile(token_url=TOKEN_URL, client_id="1b2c")
    profile.kind = ServerProfileKind.POP3_SMTP
    with pytest.raises(ValidationError) as error:
        check_server_profile(profile)
    assert str(error.value) == "OAuth sign-in is available for imap_smtp profiles, not pop3_smtp"


def test_the_refresh_token_is_the_mailboxs_and_the_client_secret_the_profiles() -> None:
    # Where each secret is kept: per mailbox, and once for the profile.
    profile = _profile(token_url=TOKEN_URL, client_id="1b2c")
    assert credential_keys(profile, 42, Direction.INCOMING) == [
        CredentialKey(CredentialScope.MAILBOX, 42, Direction.INCOMING)
    ]
    assert client_secret_key(profile) == CredentialKey(
        CredentialScope.SERVER_PROFILE, 7, Direction.INCOMING
    )
    profile.credential_source = CredentialSource.MAILBOX
    assert client_secret_key(profile) is None


def test_secrets_are_not_printed() -> None:
    # repr never shows the refresh token or the client secret.
    credential = Credential("dana@northwind.example", "refresh-123", client_secret="secret-456")
    assert "refresh-123" not in repr(credential) and "secret-456" not in repr(credential)


def test_the_xoauth2_initial_response_is_googles_and_microsofts_format() -> None:
    # user=<addr>^Aauth=Bearer <token>^A^A, base64 on the wire.
    raw = initial_response("dana@northwind.example", "ya29.token")
    assert raw == b"user=dana@northwind.example\x01auth=Bearer ya29.token\x01\x01"
    assert encoded_response("dana@northwind.example", "ya29.token") == (
        "dXNlcj1kYW5hQG5vcnRod2luZC5leGFtcGxlAWF1dGg9QmVhcmVyIHlhMjkudG9rZW4BAQ=="
    )


def test_mail_api_kinds_are_left_to_their_own_checks() -> None:
    # Graph, Gmail and EWS profiles sign in their own way: no token_url is asked of them.
    profile = _profile()
    profile.kind = ServerProfileKind.GMAIL
    assert check_server_profile(profile) is profile
