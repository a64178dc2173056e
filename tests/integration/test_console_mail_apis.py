"""A newcomer sets up Exchange Online, Exchange Server (password or OAuth) and Gmail in the console: choose the
kind, fill in that kind's fields and its secret, tie a mailbox to the profile, run Test &
Enable; a wrong secret is explained in the admin's words, the right one enables the mailbox.
The vendors' clouds are their contract fakes (tests/contract)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org
from tests.contract.ews_fake import FakeEwsServer
from tests.contract.ews_oauth_source import SECRET as OAUTH_SECRET
from tests.contract.ews_oauth_source import ews_oauth_profile, ews_oauth_source
from tests.contract.ews_source import ews_profile
from tests.contract.gmail_fake import FakeGmailServer
from tests.contract.gmail_fake_api import MODIFY
from tests.contract.gmail_source import gmail_profile
from tests.contract.graph_fake import FakeGraphServer
from tests.contract.graph_source import graph_profile
from tests.integration.test_console import ADMIN, BASE, sign_in
from tidings.domain.server_profile import CredentialSource
from tidings.entrypoints.api.app import create_app

DANA = "dana@northwind.example"


@dataclass(frozen=True)
class KindSetUp:
    """What an admin copies from the vendor's portal into the profile form."""

    kind: str
    options: dict[str, str]
    username: str
    right: str
    wrong: str
    #: Words Test & Enable must use for the wrong secret.
    explained: str


@contextmanager
def _exchange_online(directory: Path) -> Iterator[KindSetUp]:
    with FakeGraphServer(directory) as graph:
        app = graph.add_app(secret="the-right-secret")
        graph.add_mailbox(DANA)
        options = graph_profile(graph, app).options
        yield KindSetUp(
            "exchange_online", options, app.client_id, "the-right-secret", "a-wrong-one",
            "the client secret was refused",
        )  # fmt: skip


@contextmanager
def _exchange_server(directory: Path) -> Iterator[KindSetUp]:
    with FakeEwsServer(directory) as ews:
        account = "svc-tidings@northwind.example"
        ews.set_service_account(account, "svc-pass", may_impersonate=True)
        ews.add_mailbox(DANA)
        yield KindSetUp(
            "exchange_server", ews_profile(ews).options, account, "svc-pass", "svc-typo",
            "user name and password",
        )  # fmt: skip


@contextmanager
def _exchange_server_oauth(directory: Path) -> Iterator[KindSetUp]:
    with ews_oauth_source(directory) as source:
        source.server.add_mailbox(DANA)
        options = ews_oauth_profile(source.server, source.entra, source.app).options
        yield KindSetUp(
            "exchange_server", options, source.app.client_id, OAUTH_SECRET, "a-wrong-one",
            "the client secret was refused",
        )  # fmt: skip


@contextmanager
def _gmail(directory: Path) -> Iterator[KindSetUp]:
    with FakeGmailServer(directory) as gmail:
        key = gmail.auth.create_service_account("117000000000000000099")
        gmail.grant_delegation("117000000000000000099", [MODIFY])
        gmail.add_mailbox(DANA)
        forged = gmail.auth.forged_key(key)
        options = gmail_profile(gmail, CredentialSource.PROFILE).options
        yield KindSetUp(
            "gmail", options, key["client_email"], json.dumps(key, indent=2),
            json.dumps(forged, indent=2), "Google refused the service account",
        )  # fmt: skip


KINDS = {
    "exchange_online": _exchange_online,
    "exchange_server": _exchange_server,
    "exchange_server_oauth": _exchange_server_oauth,
    "gmail": _gmail,
}


@pytest.fixture(params=sorted(KINDS))
def set_up(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KindSetUp]:
    with KINDS[request.param](tmp_path / "vendor") as running:
        yield running


def _alerts(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def _profile_form(set_up: KindSetUp, token: str, secret: str) -> dict[str, str]:
    """What the profile form posts: the kind's fields, as an admin fills them in."""
    return {
        "csrf_token": token,
        "name": f"Northwind {set_up.kind}",
        "credential_source": "profile",
        "same_credentials_for_outgoing": "on",
        "verify_certificates": "on",
        "min_polling_interval_minutes": "0",
        "max_concurrent_connections": "10",
        "connection_timeout_seconds": "30",
        "username": set_up.username,
        "password": secret,
        **{f"options.{key}": value for key, value in set_up.options.items()},
    }


def test_a_newcomer_sets_up_each_kind_and_test_and_enable_says_what_to_fix(
    org: Org, set_up: KindSetUp
) -> None:
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    client = TestClient(create_app(org.tidings), base_url=BASE)
    token = sign_in(client, *ADMIN)
    form = client.get("/profiles/new", params={"kind": set_up.kind})
    assert form.status_code == 200
    for option in set_up.options:
        assert f'name="options.{option}"' in form.text, option
    created = client.post(
        "/profiles/new",
        data={**_profile_form(set_up, token, set_up.wrong), "kind": set_up.kind},
        follow_redirects=False,
    )
    assert created.status_code == 303, _alerts(created.text)
    profile_path = created.headers["location"].split("?")[0]
    profile_id = profile_path.rsplit("/", 1)[1]
    dana = org.mailboxes["dana"]
    tied = client.post(
        f"/mailboxes/{dana}",
        data={
            "csrf_token": token,
            "address": DANA,
            "incoming_method": "server_side_synchronization",
            "outgoing_method": "server_side_synchronization",
            "profile_id": profile_id,
        },
        follow_redirects=False,
    )
    assert tied.status_code == 303, _alerts(tied.text)

    def test_and_enable() -> str:
        done = client.post(
            "/mailboxes/test-enable", data={"csrf_token": token, "mailbox_id": str(dana)}
        )
        assert done.status_code == 200
        if org.tidings.engine.dialect.name == "postgresql":
            # Queued for the workers: run here what the worker's task runs (the fakes
            # answer only this process), as it would have.
            assert "Test &amp; Enable queued" in done.text
            asyncio.run(org.tidings.mailboxes.test_queued(dana))
        return _alerts(client.get(f"/mailboxes/{dana}").text)

    failed = test_and_enable()
    assert "Incoming email server side synchronization — failure" in failed
    assert re.search(f"error [^—]+— incoming: [^—]*{set_up.explained}", failed), failed
    with org.tidings.uow() as uow:
        assert not uow.mailboxes.get(dana).enabled  # type: ignore[union-attr]
    fixed = client.post(
        profile_path,
        data=_profile_form(set_up, token, set_up.right),
        follow_redirects=False,
    )
    assert fixed.status_code == 303, _alerts(fixed.text)
    test_and_enable()
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(dana)
    assert mailbox is not None and mailbox.enabled, [a.text for a in mailbox.alerts]
