"""The refresh-token grant (RFC 6749 §6) against a real HTTPS authorization server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.dovecot import issue_certificates
from tests.servers.oauth import OAuthServer
from tidings.adapters.oauth.tokens import BAD_CLIENT, REVOKED, OAuthTokens
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import CredentialSource, ServerProfile, ServerProfileKind

DANA = "dana@northwind.example"


class StoppedClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def oauth(tmp_path: Path) -> Iterator[OAuthServer]:
    with OAuthServer(issue_certificates(tmp_path / "tls"), lifetime_seconds=3600) as server:
        yield server


def _profile(oauth: OAuthServer, ca_file: str | None = None) -> ServerProfile:
    return ServerProfile(
        name="OAuth",
        kind=ServerProfileKind.IMAP_SMTP,
        credential_source=CredentialSource.OAUTH,
        options={
            "token_url": oauth.token_url,
            "client_id": oauth.client_id,
            "ca_file": ca_file or str(oauth.certificates.ca_file),
        },
    )


def _credential(oauth: OAuthServer, refresh_token: str, secret: str | None = None) -> Credential:
    return Credential(DANA, refresh_token, client_secret=secret or oauth.client_secret)


def test_an_access_token_is_kept_until_a_minute_before_it_expires(oauth: OAuthServer) -> None:
    # 3600 s tokens: the same one serves for 3539 s; at 3540 s a new one is asked for.
    clock = StoppedClock()
    tokens = OAuthTokens(clock)
    profile, credential = _profile(oauth), _credential(oauth, oauth.grant(DANA))
    first = asyncio.run(tokens.access_token(profile, credential))
    clock.now += 3539
    assert asyncio.run(tokens.access_token(profile, credential)) == first
    assert oauth.token_requests == 1
    clock.now += 1
    second = asyncio.run(tokens.access_token(profile, credential))
    assert second != first and oauth.token_requests == 2
    assert oauth.address_for(second) == DANA


def test_each_mailbox_has_its_own_access_token(oauth: OAuthServer) -> None:
    # Keyed by mailbox and refresh token: another mailbox never gets Dana's token.
    tokens = OAuthTokens()
    profile = _profile(oauth)
    dana = asyncio.run(tokens.access_token(profile, _credential(oauth, oauth.grant(DANA))))
    sam_credential = Credential(
        "sam@northwind.example", oauth.grant("sam@northwind.example"), oauth.client_secret
    )
    sam = asyncio.run(tokens.access_token(profile, sam_credential))
    assert (oauth.address_for(dana), oauth.address_for(sam)) == (DANA, "sam@northwind.example")


def test_a_revoked_refresh_token_and_a_wrong_secret_are_permanent_in_the_admins_words(
    oauth: OAuthServer,
) -> None:
    # invalid_grant and invalid_client (RFC 6749 §5.2) each say what to fix.
    tokens = OAuthTokens()
    revoked = oauth.grant(DANA)
    oauth.revoke(revoked)
    with pytest.raises(MailServerError) as grant_error:
        asyncio.run(tokens.access_token(_profile(oauth), _credential(oauth, revoked)))
    with pytest.raises(MailServerError) as client_error:
        asyncio.run(
            tokens.access_token(_profile(oauth), _credential(oauth, oauth.grant(DANA), "wrong"))
        )
    assert (str(grant_error.value), grant_error.value.permanent) == (REVOKED, True)
    assert (str(client_error.value), client_error.value.permanent) == (BAD_CLIENT, True)


def test_the_token_endpoints_certificate_is_verified(oauth: OAuthServer, tmp_path: Path) -> None:
    # A CA the profile does not name is not trusted: permanent, and it says so.
    other_ca = issue_certificates(tmp_path / "other").ca_file
    profile = _profile(oauth, ca_file=str(other_ca))
    with pytest.raises(MailServerError) as error:
        asyncio.run(OAuthTokens().access_token(profile, _credential(oauth, oauth.grant(DANA))))
    assert str(error.value).startswith(
        f"certificate not trusted for the token endpoint {oauth.token_url}"
    )
    assert error.value.permanent


def test_nothing_answering_at_the_token_endpoint_is_transient(oauth: OAuthServer) -> None:
    # The authorization server may come back: the failure is not permanent.
    profile = _profile(oauth)
    oauth.stop()
    with pytest.raises(MailServerError) as error:
        asyncio.run(OAuthTokens().access_token(profile, _credential(oauth, "any")))
    assert str(error.value).startswith(f"cannot reach the token endpoint {oauth.token_url}")
    assert not error.value.permanent


def test_no_token_or_secret_is_logged(oauth: OAuthServer, caplog: pytest.LogCaptureFixture) -> None:
    # Whatever httpx and httpcore log at DEBUG, the refresh token, the client secret and the
    # access token are not in it.
    refresh_token = oauth.grant(DANA)
    with caplog.at_level(logging.DEBUG):
        access_token = asyncio.run(
            OAuthTokens().access_token(_profile(oauth), _credential(oauth, refresh_token))
        )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records, "httpx logged nothing: the check would prove nothing"
    for secret in (refresh_token, access_token, oauth.client_secret):
        assert secret not in logged
