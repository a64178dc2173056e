"""The records API: accounts, contacts, leads, opportunities and cases by hand."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api_client import admin_client, tracking_client
from tests.builders import Org, make_email
from tidings.domain.records import RecordKind, RecordRef


@pytest.fixture
def api(org: Org) -> TestClient:
    return admin_client(org)


def test_a_contact_is_created_read_listed_changed_and_deleted(api: TestClient, org: Org) -> None:
    # The whole life of one record through the API, as a CRM admin uses it.
    contoso = org.records["contoso"].id
    created = api.post(
        "/api/contacts",
        json={"full_name": "Ana Silva", "emails": ["Ana@Contoso.example"], "account_id": contoso},
    )
    assert created.status_code == 201
    ana = created.json()
    assert ana["emails"] == ["ana@contoso.example"]
    assert ana["ref"] == f"contact:{ana['id']}"
    assert api.get(f"/api/contacts/{ana['id']}").json() == ana

    page = api.get("/api/contacts", params={"account_id": contoso, "search": "ana"}).json()
    assert [c["full_name"] for c in page["items"]] == ["Ana Silva"]
    assert page["total"] == 1

    changed = api.patch(f"/api/contacts/{ana['id']}", json={"full_name": "Ana M. Silva"})
    assert changed.json()["full_name"] == "Ana M. Silva"
    assert changed.json()["emails"] == ["ana@contoso.example"]

    assert api.delete(f"/api/contacts/{ana['id']}").status_code == 204
    assert api.get(f"/api/contacts/{ana['id']}").status_code == 404


def test_bad_input_gets_a_clear_problem_and_stores_nothing(api: TestClient, org: Org) -> None:
    # Each mistake names itself; nothing half-written stays behind.
    bad_address = api.post("/api/leads", json={"full_name": "X", "emails": ["not-an-address"]})
    assert bad_address.status_code == 422
    assert bad_address.headers["content-type"] == "application/problem+json"
    assert bad_address.json()["detail"] == "body.emails: 'not-an-address' is not an email address"

    no_parent = api.post("/api/opportunities", json={"name": "Deal", "account_id": 999})
    assert no_parent.status_code == 400
    assert no_parent.json()["detail"] == "unknown parent account 999"

    no_customer = api.post("/api/cases", json={"title": "Broken", "customer": "contact:999"})
    assert no_customer.json()["detail"] == "unknown customer contact:999"

    taken = api.post(
        "/api/contacts", json={"full_name": "Maria", "emails": ["maria@contoso.example"]}
    )
    assert taken.status_code == 409
    maria = org.records["maria"].id
    assert (
        taken.json()["detail"] == f"maria@contoso.example is already the address of contact:{maria}"
    )

    assert api.get("/api/leads").json()["total"] == 1


def test_a_record_activities_refer_to_is_deleted_only_when_asked_to_detach(
    api: TestClient, org: Org
) -> None:
    # Maria is the sender of a tracked email: deleting her keeps the email, unresolved.
    org.deliver(make_email())
    maria = org.records["maria"]
    refused = api.delete(f"/api/contacts/{maria.id}")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"1 email activity refers to {maria}; delete with detach=true to keep them without the link"
    )
    assert api.delete(f"/api/contacts/{maria.id}", params={"detach": "true"}).status_code == 204

    activity = api.get("/api/activities").json()["items"][0]
    sender = next(p for p in activity["parties"] if p["role"] == "from")
    assert sender == {
        "role": "from",
        "address": "maria@contoso.example",
        "name": "",
        "resolved": False,
        "record": None,
    }


def test_a_contact_created_through_the_api_resolves_email_ingested_after_it(
    api: TestClient, org: Org
) -> None:
    # New records join the address index at once: the next email finds them as its parties.
    created = api.post(
        "/api/contacts", json={"full_name": "Jo Park", "emails": ["jo@fabrikam.example"]}
    ).json()
    org.deliver(make_email(sender="jo@fabrikam.example", message_id="<jo-1@fabrikam.example>"))
    page = api.get("/api/activities", params={"party": f"contact:{created['id']}"}).json()
    assert page["total"] == 1

    with org.tidings.uow() as uow:
        found = uow.directory.records_by_address(["jo@fabrikam.example"])
    assert found == {"jo@fabrikam.example": [RecordRef(RecordKind.CONTACT, created["id"])]}


def test_changing_a_record_addresses_moves_party_resolution(api: TestClient, org: Org) -> None:
    # The old address no longer finds the record; the new one does.
    lena = org.records["lena"].id
    api.patch(f"/api/leads/{lena}", json={"emails": ["lena@new.example"]})
    with org.tidings.uow() as uow:
        found = uow.directory.records_by_address(["lena@tailspin.example", "lena@new.example"])
    assert found == {"lena@new.example": [RecordRef(RecordKind.LEAD, lena)]}


def test_records_need_the_record_privileges(org: Org) -> None:
    # The tracking role reads only the records its holder owns (User level), and writes none.
    client = tracking_client(org)
    own = client.get("/api/accounts")
    assert own.status_code == 200
    assert own.json()["total"] == 0
    refused = client.post("/api/accounts", json={"name": "Fabrikam"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "your security roles lack the privilege write_records"
    client.auth = None
    assert client.get("/api/accounts").status_code == 401
