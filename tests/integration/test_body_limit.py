"""Every request body has a bound, enforced before anything reads it: FastAPI reads a JSON
or form body whole, and before the caller's sign-in is checked. Uploads spooled to disk
and imports streamed to a file have bounds of their own; on both databases."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from tests.api_client import admin_client
from tests.builders import Org
from tidings.entrypoints.api.app import create_app
from tidings.entrypoints.api.body_limit import READ_WHOLE_BYTES

MB = 1024 * 1024


def _body(size: int, fill: bytes = b" ") -> Iterator[bytes]:
    """``size`` bytes a megabyte at a time, sent without a Content-Length (chunked)."""
    sent = 0
    while sent < size:
        chunk = fill * min(MB, size - sent)
        sent += len(chunk)
        yield chunk


def test_a_body_past_the_bound_is_refused_before_the_sign_in_is_even_asked(org: Org) -> None:
    anonymous = TestClient(create_app(org.tidings))
    refused = anonymous.post(
        "/api/emails",
        content=_body(READ_WHOLE_BYTES + 1),
        headers={"Content-Type": "application/json"},
    )

    assert refused.status_code == 413
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == (
        "the request's body is larger than allowed here (16,777,216 bytes at most)"
    )
    # Below the bound the same request is read, and refused for want of a sign-in.
    small = anonymous.post(
        "/api/emails", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert small.status_code == 401


def test_a_console_form_past_the_bound_gets_the_consoles_error_page(org: Org) -> None:
    anonymous = TestClient(create_app(org.tidings))
    refused = anonymous.post(
        "/signin",
        content=_body(READ_WHOLE_BYTES + 1, b"a"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("text/html")
    assert "larger than allowed here" in refused.text


def test_imports_and_uploads_keep_their_own_larger_bounds(org: Org) -> None:
    client = admin_client(org)
    # 17 MB of CSV to the bulk import: read by the route (and refused for its header),
    # not by the bound of bodies read whole.
    header = b"full_name,nothing_else\n"
    imported = client.post(
        "/api/mailboxes/bulk",
        content=iter([header, *_body(READ_WHOLE_BYTES + MB, b"x")]),
        headers={"Content-Type": "text/csv"},
    )
    assert imported.status_code != 413, imported.text
    # A 17 MB file attached to a draft: past the bound of bodies read whole, within that of
    # uploads (spooled to disk); read, and then refused only for the draft that is not there.
    attached = client.post(
        "/api/emails/999999/attachments",
        files={"file": ("scan.pdf", b"%PDF" + b"x" * (READ_WHOLE_BYTES + MB), "application/pdf")},
    )
    assert attached.status_code == 404, attached.text
