"""The tracked category's settings through the API and the console: its name, the IMAP
keyword derived from it (shown, never set), the on/off switch, and refusals."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org
from tests.integration.test_console import ADMIN, BASE, sign_in
from tidings.entrypoints.api.app import create_app
from tidings.entrypoints.web.forms import shown_value
from tidings.entrypoints.web.views.settings import FIELDS


@pytest.fixture
def client(org: Org) -> TestClient:
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    return TestClient(create_app(org.tidings), base_url=BASE)


def test_the_category_and_its_imap_keyword_are_read_and_changed_through_the_api(
    client: TestClient,
) -> None:
    shown = client.get("/api/settings/email", auth=ADMIN).json()
    assert (shown["use_tracked_category"], shown["tracked_category"], shown["tracked_keyword"]) == (
        True,
        "Tracked to Tidings",
        "Tracked_to_Tidings",
    )
    changed = client.patch(
        "/api/settings/email",
        json={"tracked_category": "  CRM (tracked)  ", "use_tracked_category": False},
        auth=ADMIN,
    ).json()
    assert (changed["tracked_category"], changed["tracked_keyword"]) == (
        "CRM (tracked)",
        "CRM__tracked_",
    )
    assert changed["use_tracked_category"] is False


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"tracked_category": "   "}, 422, "body.tracked_category: the tracked category needs"),
        ({"tracked_category": "a,b"}, 422, "body.tracked_category: the tracked category cannot"),
        ({"tracked_category": "x" * 51}, 422, "tracked_category"),
        ({"tracked_keyword": "Mine"}, 422, "tracked_keyword"),  # derived, never set
    ],
)
def test_a_category_that_cannot_be_used_is_refused_and_nothing_is_saved(
    client: TestClient, body: dict[str, object], status: int, words: str
) -> None:
    refused = client.patch("/api/settings/email", json=body, auth=ADMIN)
    assert refused.status_code == status, refused.text
    assert words in refused.json()["detail"]
    shown = client.get("/api/settings/email", auth=ADMIN).json()
    assert shown["tracked_category"] == "Tracked to Tidings"


def test_the_console_settings_page_shows_the_keyword_the_category_maps_to(
    client: TestClient,
) -> None:
    csrf = sign_in(client, *ADMIN)
    page = client.get("/settings/email").text
    assert "Tracked category" in page
    assert "the keyword <code>Tracked_to_Tidings</code>" in page
    # The form as the page fills it, with a new name.
    config = client.get("/api/settings/email", auth=ADMIN).json()
    form = {"csrf_token": csrf}
    for field in FIELDS:
        value = shown_value(config, field)
        if field.kind == "bool":
            if value:
                form[field.name] = "on"
        else:
            form[field.name] = " ".join(value) if isinstance(value, list) else str(value)
    form["tracked_category"] = "Tidings: tracked"
    saved = client.post("/settings/email", data=form, follow_redirects=True)
    assert "the keyword <code>Tidings:_tracked</code>" in saved.text
    refused = client.post("/settings/email", data={**form, "tracked_category": "a,b"})
    assert refused.status_code == 422 and "comma" in refused.text
