"""Bulk import of CRM records from CSV and JSON through the API."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.api_client import admin_client
from tests.builders import Org

CSV = "text/csv"


@pytest.fixture
def api(org: Org) -> TestClient:
    return admin_client(org)


def _import(api: TestClient, kind: str, body: str, media: str = CSV, **params: str):
    return api.post(
        f"/api/{kind}/import", content=body.encode(), headers={"content-type": media}, params=params
    )


def test_a_csv_of_contacts_is_imported_and_a_second_import_changes_nothing(
    api: TestClient, org: Org
) -> None:
    # Matched by address, the same file twice gives the same contacts, not twice as many.
    contoso = org.records["contoso"].id
    body = (
        "full_name,emailaddress1,emailaddress2,account_id\n"
        f"Ana Silva,ana@contoso.example,ana.silva@home.example,{contoso}\n"
        "Bo Chen,bo@fabrikam.example,,\n"
        f"Maria Garcia-Lopez,maria@contoso.example,,{contoso}\n"
    )
    first = _import(api, "contacts", body)
    assert first.status_code == 200
    assert first.json() == {
        "kind": "contact",
        "dry_run": False,
        "all_or_nothing": True,
        "committed": True,
        "rows": 3,
        "created": 2,
        "updated": 1,
        "skipped": 0,
        "error_count": 0,
        "errors": [],
    }
    second = _import(api, "contacts", body).json()
    assert (second["created"], second["updated"]) == (0, 3)
    contacts = api.get("/api/contacts", params={"limit": 500}).json()
    assert contacts["total"] == 4  # Maria and Tom were there; Ana and Bo are new
    maria = api.get("/api/contacts", params={"email": "maria@contoso.example"}).json()["items"]
    assert [c["full_name"] for c in maria] == ["Maria Garcia-Lopez"]


def test_one_bad_row_stops_the_import_and_every_error_has_its_row(
    api: TestClient, org: Org
) -> None:
    # All or nothing by default: three good rows are not written beside two bad ones.
    body = (
        "full_name,emails,account_id\n"
        "Ana Silva,ana@contoso.example,\n"
        "Bo Chen,not-an-address,\n"
        "Cy Diaz,cy@contoso.example,\n"
        ",dee@contoso.example,\n"
        "Ed Ek,ed@contoso.example,424242\n"
    )
    response = _import(api, "contacts", body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["detail"] == "3 of 5 rows are invalid; nothing was written"
    assert problem["report"]["errors"] == [
        {"row": 2, "message": "'not-an-address' is not an email address"},
        {"row": 4, "message": "full_name is required"},
        {"row": 5, "message": "unknown parent account 424242"},
    ]
    assert api.get("/api/contacts").json()["total"] == 2


def test_without_all_or_nothing_the_good_rows_are_imported(api: TestClient) -> None:
    body = "name,emailaddress1\nFabrikam,info@fabrikam.example\nBad,@nowhere\n"
    report = _import(api, "accounts", body, all_or_nothing="false").json()
    assert (report["committed"], report["created"], report["skipped"]) == (True, 1, 1)
    assert report["errors"] == [{"row": 2, "message": "'@nowhere' is not an email address"}]
    assert api.get("/api/accounts", params={"search": "fabrikam"}).json()["total"] == 1


def test_a_dry_run_reports_what_would_happen_and_writes_nothing(api: TestClient) -> None:
    body = "full_name,company,emailaddress1\nNia Obi,Litware,nia@litware.example\n"
    report = _import(api, "leads", body, dry_run="true").json()
    assert (report["dry_run"], report["committed"], report["created"]) == (True, False, 1)
    assert api.get("/api/leads", params={"email": "nia@litware.example"}).json()["total"] == 0


def test_json_arrays_and_json_lines_are_both_read(api: TestClient, org: Org) -> None:
    # Cases match on their ticket number, opportunities on name and account.
    contoso = org.records["contoso"].id
    cases = [
        {"title": "Printer on fire", "ticket_number": "CAS-1", "customer": f"account:{contoso}"},
        {"title": "Login fails", "ticket_number": "CAS-2"},
    ]
    first = _import(api, "cases", json.dumps(cases), "application/json").json()
    assert first["created"] == 2
    again = _import(api, "cases", json.dumps(cases), "application/json").json()
    assert (again["created"], again["updated"]) == (0, 2)

    lines = "\n".join(
        json.dumps(o)
        for o in (
            {"name": "Renewal", "account_id": contoso},
            {"name": "Contoso: 500 seats", "account_id": contoso},
        )
    )
    report = _import(api, "opportunities", lines, "application/x-ndjson").json()
    assert (report["created"], report["updated"]) == (1, 1)


def test_rows_that_are_not_records_are_reported(api: TestClient) -> None:
    body = '[{"name": "A"}, 42, {"name": "B", "colour": "red"}]'
    problem = _import(api, "accounts", body, "application/json").json()
    assert problem["report"]["errors"] == [
        {"row": 2, "message": "expected an object of field names and values"},
        {
            "row": 3,
            "message": "unknown field(s) colour; expected name, emails, emailaddress1, emailaddress2, emailaddress3",
        },
    ]
    broken = _import(api, "accounts", '[{"name": "A"}, {"name": ', "application/json")
    assert broken.status_code == 400
    assert broken.json()["detail"] == "record 2: not valid JSON: Expecting value"


def test_only_csv_and_json_are_accepted(api: TestClient) -> None:
    response = _import(api, "accounts", "<accounts/>", "application/xml")
    assert response.status_code == 415
    assert response.json()["detail"] == (
        "send the file as text/csv, application/json or application/x-ndjson"
    )


def test_a_record_repeated_in_one_file_is_created_once_then_updated(api: TestClient) -> None:
    # Rows are written in chunks; a later row with an earlier row's address updates it.
    rows = [f"Account {n},info@a{n}.example" for n in range(1200)]
    rows.insert(700, "Account 3 renamed,info@a3.example")
    rows.append("Account 1199 renamed,info@a1199.example")
    body = "name,emailaddress1\n" + "\n".join(rows) + "\n"
    report = _import(api, "accounts", body).json()
    assert (report["rows"], report["created"], report["updated"]) == (1202, 1200, 2)
    found = api.get("/api/accounts", params={"email": "info@a3.example"}).json()["items"]
    assert [a["name"] for a in found] == ["Account 3 renamed"]
    found = api.get("/api/accounts", params={"email": "info@a1199.example"}).json()["items"]
    assert [a["name"] for a in found] == ["Account 1199 renamed"]
