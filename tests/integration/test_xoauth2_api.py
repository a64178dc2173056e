"""An OAuth profile and its mailboxes' refresh tokens through the REST API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org
from tidings.adapters.passwords import Argon2PasswordHasher
from tidings.domain.people import SYSTEM_ADMINISTRATOR
from tidings.entrypoints.api.app import create_app

ROOT = ("root@northwind.example", "root-password-1")
TOKEN_URL = "https://login.microsoftonline.com/northwind.example/oauth2/v2.0/token"
PROFILE = {
    "name": "Microsoft 365",
    "kind": "imap_smtp",
    "incoming_host": "outlook.office365.com",
    "incoming_port": 993,
    "outgoing_host": "smtp.office365.com",
    "outgoing_port": 587,
    "credential_source": "oauth",
}


@pytest.fixture
def client(org: Org) -> Iterator[TestClient]:
    org.add_user("root", tracking_role=False)
    with org.tidings.uow() as uow:
        user = uow.directory.get_user_by_email(ROOT[0])
        user.password_hash = Argon2PasswordHasher("cheapest").hash(ROOT[1])
        user.role_ids = frozenset({org.roles[SYSTEM_ADMINISTRATOR]})
        uow.directory.save_user(user)
        uow.commit()
    with TestClient(create_app(org.tidings)) as http:
        yield http


def test_an_oauth_profile_without_its_token_endpoint_is_refused_saying_so(
    client: TestClient,
) -> None:
    # The admin learns which option is missing.
    response = client.post(
        "/api/server-profiles", json={**PROFILE, "options": {"client_id": "1b2c"}}, auth=ROOT
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body.options.token_url: OAuth sign-in needs")
    assert "OAuth sign-in needs the token endpoint of the authorization server (token_url)" in (
        response.text
    )


def test_an_oauth_profile_keeps_its_client_secret_and_a_mailbox_its_long_refresh_token(
    org: Org, client: TestClient
) -> None:
    # The client secret and a 2,000-character refresh token go in; neither comes back.
    secret, refresh_token = "client-secret-value", "0.A" + "r" * 2000
    created = client.post(
        "/api/server-profiles",
        json={
            **PROFILE,
            "options": {"token_url": TOKEN_URL, "client_id": "1b2c"},
            "credentials": {"username": "1b2c", "password": secret},
        },
        auth=ROOT,
    )
    assert created.status_code == 201, created.text
    assert created.json()["warnings"] == []
    mailbox = org.mailboxes["dana"]
    stored = client.put(
        f"/api/mailboxes/{mailbox}/credentials",
        json={"username": "dana@northwind.example", "password": refresh_token},
        auth=ROOT,
    )
    assert stored.status_code == 204, stored.text
    shown = client.get(f"/api/server-profiles/{created.json()['id']}", auth=ROOT).text
    shown += client.get(f"/api/mailboxes/{mailbox}", auth=ROOT).text
    assert secret not in shown and refresh_token not in shown
