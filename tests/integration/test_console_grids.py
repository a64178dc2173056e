"""The console's grids over HTTP, on SQLite and PostgreSQL: sorting, filtering and paging done
by the database, select-all-in-view bulk actions with a result per mailbox, saved views and
CSV export. (tests/e2e/test_console_grids_browser.py walks the same grid in Chromium.)"""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org, make_email
from tests.integration.test_console import ADMIN, BASE, sign_in, signed_in_admin
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.entrypoints.api.app import create_app
from tidings.services.import_formats import ImportFormat

HEADER = "full_name,email,address,profile,incoming_method,outgoing_method\n"


def import_mailboxes(org: Org, count: int, *, names: dict[int, str] | None = None) -> None:
    """``count`` users with mailboxes pending approval, through the bulk import service."""
    admin = Caller(org.users["dana"], frozenset(Privilege))
    with org.tidings.uow() as uow:
        if not any(p.name == "Northwind IMAP" for p in uow.server_profiles.all()):
            uow.server_profiles.add(
                ServerProfile(
                    name="Northwind IMAP",
                    kind=ServerProfileKind.IMAP_SMTP,
                    incoming_host="imap.northwind.example",
                    outgoing_host="smtp.northwind.example",
                )
            )
            uow.commit()
    rows = [
        f"{(names or {}).get(n, f'Person {n:03d}')},p{n:03d}@staff.example,,Northwind IMAP,"
        "server_side_synchronization,none\n"
        for n in range(count)
    ]
    report = org.tidings.mailbox_import.import_mailboxes(
        admin, io.BytesIO((HEADER + "".join(rows)).encode()), ImportFormat.CSV
    )
    assert report.committed and not report.problems, report.problems


@pytest.fixture
def client(org: Org) -> TestClient:
    return signed_in_admin(org)


def addresses(html: str) -> list[str]:
    return re.findall(r'<a href="/mailboxes/\d+">([^<]+)</a>', html)


def range_of(html: str) -> str:
    found = re.search(r'id="grid-range"[^>]*>(?:<strong>)?([^<]+)<', html)
    assert found, "the grid says which rows it shows"
    return found.group(1).strip()


def csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/tokens").text)
    assert found
    return found.group(1)


def test_the_mailbox_grid_pages_sorts_and_counts_in_the_database(
    org: Org, client: TestClient
) -> None:
    # 120 imported mailboxes and dana's: the range names the totals, each page its rows.
    import_mailboxes(org, 120)
    first = client.get("/mailboxes?view=all")
    assert range_of(first.text) == "1–50 of 121 mailboxes"
    assert addresses(first.text)[:2] == ["dana@northwind.example", "p000@staff.example"]
    last = client.get("/mailboxes?view=all&page=3")
    assert range_of(last.text) == "101–121 of 121 mailboxes"
    assert addresses(last.text)[-1] == "p119@staff.example"
    # Descending by address, 25 a page; owner and profile are columns of their own.
    down = client.get("/mailboxes?view=all&sort=-address&size=25")
    assert range_of(down.text) == "1–25 of 121 mailboxes"
    assert addresses(down.text)[:2] == ["p119@staff.example", "p118@staff.example"]
    assert "Person 119" in down.text and "Northwind IMAP" in down.text
    by_owner = client.get("/mailboxes?view=all&sort=-owner")
    assert addresses(by_owner.text)[0] == "p119@staff.example"  # "Person 119" > "Dana"
    # The header of the sorted column links to the opposite order.
    assert 'aria-sort="descending"' in by_owner.text
    assert 'href="/mailboxes?view=all&amp;sort=owner"' in by_owner.text


def test_the_mailbox_grid_filters_by_view_status_owner_profile_and_text(
    org: Org, client: TestClient
) -> None:
    import_mailboxes(org, 30)
    pending = client.get("/mailboxes?view=pending_approval")
    assert range_of(pending.text) == "1–30 of 30 mailboxes"
    assert "dana@northwind.example" not in addresses(pending.text)
    text = client.get("/mailboxes?view=all&q=person+01")
    assert addresses(text.text) == [f"p01{n}@staff.example" for n in range(10)]
    approved = client.get("/mailboxes?view=all&approval=approved")
    assert addresses(approved.text) == ["dana@northwind.example"]
    dana = org.users["dana"]
    mine = client.get(f"/mailboxes?view=all&owner=user:{dana.id}")
    assert addresses(mine.text) == ["dana@northwind.example"]
    with org.tidings.uow() as uow:
        profile_id = next(p.id for p in uow.server_profiles.all())
    profiled = client.get(f"/mailboxes?view=all&profile={profile_id}&outgoing=not_run")
    assert range_of(profiled.text) == "1–30 of 30 mailboxes"
    assert range_of(client.get("/mailboxes?view=all&profile=999999").text) == "No mailboxes"


def test_bad_grid_parameters_fall_back_to_defaults_with_a_message_never_an_error(
    org: Org, client: TestClient
) -> None:
    import_mailboxes(org, 3)
    odd = {
        "view": "nonsense",
        "sort": "password",
        "page": "-4",
        "size": "7",
        "approval": "maybe",
        "owner": "contact:1",
        "profile": "99999999999999",
    }
    answer = client.get("/mailboxes?" + urlencode(odd))
    assert answer.status_code == 200
    for message in (
        "cannot sort by &#39;password&#39;; sorted by address instead",
        "no page &#39;-4&#39;; showing the first",
        "page size must be one of 25, 50, 100, 250",
        "unknown email address status &#39;maybe&#39;",
        "no owner &#39;contact:1&#39;",
        "no server profile &#39;99999999999999&#39;",
        "unknown view &#39;nonsense&#39;",
    ):
        assert message in answer.text
    # A page past the end shows the last page.
    assert range_of(client.get("/mailboxes?view=all&page=999").text) == "1–4 of 4 mailboxes"
    activities = client.get("/activities?sort=body&page=x&from=yesterday&direction=sideways")
    assert activities.status_code == 200
    assert "cannot sort by &#39;body&#39;" in activities.text
    assert "from: &#39;yesterday&#39; is not a date (YYYY-MM-DD)" in activities.text


def test_approve_email_for_every_mailbox_in_the_view_confirms_then_reports_each_row(
    org: Org, client: TestClient
) -> None:
    # "Select all 75 in this view" spans two pages: the selection is the view, not ids.
    import_mailboxes(org, 75)
    token = csrf(client)
    form = {"csrf_token": token, "action": "approve", "scope": "view"}
    form["query"] = "view=pending_approval&sort=-address"
    confirm = client.post("/mailboxes/bulk", data=form)
    assert confirm.status_code == 200
    assert "<strong>75 mailboxes</strong>: every mailbox in the view" in confirm.text
    assert "email address is marked approved, so that it may sync" in confirm.text
    assert "p074@staff.example" in confirm.text
    assert confirm.text.count('name="mailbox_id"') == 0
    done = client.post("/mailboxes/bulk/run", data=form)
    assert "75 of 75 succeeded." in done.text
    rows = re.findall(
        r'<tr class="ok">\s*<td class="long"><a href="/mailboxes/\d+">([^<]+)</a>'
        r"</td>\s*<td[^>]*>Succeeded</td>\s*<td>approved</td>",
        done.text,
    )
    assert len(rows) == 75 and rows[0] == "p074@staff.example"
    assert range_of(client.get("/mailboxes?view=pending_approval").text) == "No mailboxes"


def test_each_row_of_a_bulk_action_has_its_own_outcome_and_error(
    org: Org, client: TestClient
) -> None:
    # Disable: dana's enabled mailbox is disabled; a pending one was never enabled; an id
    # that names no mailbox is reported, not a crash.
    import_mailboxes(org, 2)
    with org.tidings.uow() as uow:
        other = uow.mailboxes.get_by_address("p000@staff.example")
    assert other is not None and other.id is not None
    token = csrf(client)
    ids = [org.mailboxes["dana"], other.id, 2_000_000_000]
    form = {"csrf_token": token, "action": "disable", "mailbox_id": [str(i) for i in ids]}
    confirm = client.post("/mailboxes/bulk", data=form)
    assert "<strong>3 mailboxes</strong>" in confirm.text
    done = client.post("/mailboxes/bulk/run", data=form)
    assert "2 of 3 succeeded; 1 did not." in done.text
    cells = re.findall(r"<td>([a-z ]+)</td>\s*<td class=\"long\">([^<]*)</td>", done.text)
    assert cells == [("disabled", ""), ("already disabled", ""), ("skipped", "no such mailbox")]
    # Test &amp; Enable of a mailbox whose server cannot be reached says why, per row.
    tested = client.post(
        "/mailboxes/bulk/run",
        data={"csrf_token": token, "action": "test-enable", "mailbox_id": str(other.id)},
    )
    if org.tidings.engine.dialect.name == "postgresql":
        # Where workers share a task queue the test is theirs: the row says it is queued.
        assert "1 of 1 succeeded" in tested.text and "queued" in tested.text
        return
    assert "0 of 1 succeeded" in tested.text
    assert "not enabled" in tested.text and "incoming:" in tested.text


def test_a_bulk_action_without_a_selection_or_privilege_is_refused_clearly(
    org: Org, client: TestClient
) -> None:
    token = csrf(client)
    empty = client.post("/mailboxes/bulk", data={"csrf_token": token, "action": "delete"})
    assert empty.status_code == 422
    assert "select at least one mailbox, or all mailboxes in the view" in empty.text
    unknown = client.post("/mailboxes/bulk", data={"csrf_token": token, "action": "explode"})
    assert unknown.status_code == 422
    forged = client.post(
        "/mailboxes/bulk/run",
        data={"action": "delete", "scope": "view"},
        headers={"X-CSRF-Token": "not-the-pages-token"},
    )
    assert forged.status_code == 403
    assert client.get("/mailboxes?view=all").text.count("dana@northwind.example") >= 1


def test_delete_from_the_command_bar_removes_the_mailboxes_of_the_view(
    org: Org, client: TestClient
) -> None:
    import_mailboxes(org, 4)
    token = csrf(client)
    form = {"csrf_token": token, "action": "delete", "scope": "view", "query": "view=all&q=p00"}
    done = client.post("/mailboxes/bulk/run", data=form)
    assert "4 of 4 succeeded." in done.text
    assert addresses(client.get("/mailboxes?view=all").text) == ["dana@northwind.example"]


def test_saved_views_keep_filters_and_sort_per_user_and_can_be_renamed_and_deleted(
    org: Org, client: TestClient
) -> None:
    import_mailboxes(org, 12)
    token = csrf(client)
    saved = client.post(
        "/views",
        data={
            "csrf_token": token,
            "grid": "mailboxes",
            "name": "Staff, newest first",
            "query": "view=all&q=staff&sort=-address",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    target = saved.headers["location"]
    view_id = int(target.rsplit("saved=", 1)[1])
    assert target == f"/mailboxes?view=all&q=staff&sort=-address&saved={view_id}"
    # The view selector lists it; choosing it opens the saved filters.
    grid = client.get("/mailboxes")
    assert f'<option value="saved:{view_id}">Staff, newest first</option>' in grid.text
    opened = client.get(f"/mailboxes?view=saved:{view_id}")
    assert addresses(opened.text)[0] == "p011@staff.example"
    assert range_of(opened.text) == "1–12 of 12 mailboxes"
    # The same name twice is refused; a rename keeps the filters.
    twice = client.post(
        "/views", data={"csrf_token": token, "grid": "mailboxes", "name": "Staff, newest first"}
    )
    assert twice.status_code == 409
    client.post(f"/views/{view_id}/rename", data={"csrf_token": token, "name": "Staff"})
    assert ">Staff</option>" in client.get("/mailboxes").text
    # Another user neither sees nor deletes it.
    org.tidings.access.create_admin("Bo Admin", "bo@northwind.example", "bo-password-1")
    other = TestClient(create_app(org.tidings), base_url=BASE)
    sign_in(other, "bo@northwind.example", "bo-password-1")
    assert "saved:" not in other.get("/mailboxes").text
    refused = other.post(f"/views/{view_id}/delete", data={"csrf_token": csrf(other)})
    assert refused.status_code == 404
    assert other.get(f"/mailboxes?view=saved:{view_id}").status_code == 404
    deleted = client.post(f"/views/{view_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 200 and "saved:" not in deleted.text


def test_csv_export_holds_every_row_of_the_view_and_no_formula(
    org: Org, client: TestClient
) -> None:
    # 130 rows of a view of 131: more than two pages of 50, exported in full and in order.
    import_mailboxes(org, 131, names={7: '=HYPERLINK("http://evil.example")', 8: "@SUM(1)"})
    answer = client.get("/mailboxes/export.csv?view=all&q=staff&sort=-address&page=2")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="mailboxes.csv"' in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Email address", "Owner", "Email server profile"]
    assert len(rows) == 1 + 131
    assert rows[1][0] == "p130@staff.example" and rows[-1][0] == "p000@staff.example"
    owners = {row[0]: row[1] for row in rows[1:]}
    assert owners["p007@staff.example"] == '\'=HYPERLINK("http://evil.example")'
    assert owners["p008@staff.example"] == "'@SUM(1)"
    assert owners["p009@staff.example"] == "Person 009"


def test_the_activity_grid_filters_sorts_pages_and_exports(org: Org, client: TestClient) -> None:
    for n in range(30):
        raw = make_email(
            subject=f"Quote {n:02d}",
            sender=f"buyer{n % 3}@contoso.example",
            message_id=f"<q{n}@contoso.example>",
        )
        day = f"Date: {n % 28 + 1:02d} Jun 2026 10:{n:02d}:00 +0000".encode()
        org.deliver(re.sub(rb"(?m)^Date: .*$", day, raw, count=1))
    first = client.get("/activities?size=25&sort=subject")
    assert range_of(first.text) == "1–25 of 30 activities"
    subjects = re.findall(r'<a href="/activities/\d+">([^<]+)</a>', first.text)
    assert subjects[:2] == ["Quote 00", "Quote 01"]
    second = client.get("/activities?size=25&sort=subject&page=2")
    assert range_of(second.text) == "26–30 of 30 activities"
    days = client.get("/activities?from=2026-06-01&to=2026-06-03&sort=-received")
    found = re.findall(r'<a href="/activities/\d+">([^<]+)</a>', days.text)
    assert found == ["Quote 02", "Quote 29", "Quote 01", "Quote 28", "Quote 00"]
    assert range_of(client.get("/activities?direction=outgoing").text) == "No activities"
    sender = client.get("/activities?q=buyer1&sort=-subject")
    assert range_of(sender.text) == "1–10 of 10 activities"
    exported = client.get("/activities/export.csv?q=buyer1&sort=-subject")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["Subject", "From"]
    assert [r[0] for r in rows[1:]] == [f"Quote {n:02d}" for n in range(28, -1, -3)]


def test_the_api_lists_take_the_same_sort_filter_and_page_and_give_totals(
    org: Org, client: TestClient
) -> None:
    import_mailboxes(org, 60)
    client.auth = ADMIN
    grid = client.get("/api/mailboxes/grid?view=pending_approval&sort=-address&page=2")
    body = grid.json()
    assert body["total"] == 60 and body["page"] == 2 and body["page_size"] == 50
    assert [m["address"] for m in body["items"]][:1] == ["p009@staff.example"]
    assert body["items"][0]["owner_name"] == "Person 009"
    assert body["items"][0]["profile_name"] == "Northwind IMAP"
    bad = client.get("/api/mailboxes/grid?sort=password")
    assert bad.status_code == 422 and "sort: unknown column" in bad.text
    org.deliver(make_email(subject="Invoice 7", message_id="<i7@contoso.example>"))
    org.deliver(make_email(subject="Agenda", message_id="<a1@contoso.example>"))
    listed = client.get("/api/activities?sort=subject&direction=incoming&limit=1").json()
    assert listed["total"] == 2 and listed["items"][0]["subject"] == "Agenda"
    assert client.get("/api/activities?sort=nothing").status_code == 422
