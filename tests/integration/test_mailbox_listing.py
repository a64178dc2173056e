"""Listing mailboxes costs the same few statements however many mailboxes and alerts there
are: a list of a thousand mailboxes must not become a thousand and one queries."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.builders import Org, statements_run
from tidings.domain.mailbox import Alert, AlertLevel


def _statements_while_listing(org: Org) -> tuple[int, dict[str, list[str]]]:
    with statements_run(org.tidings.engine) as seen, org.tidings.uow() as uow:
        mailboxes = uow.mailboxes.all()
    return len(seen), {m.address: [a.text for a in m.alerts] for m in mailboxes}


def test_listing_mailboxes_reads_alerts_in_one_query_and_keeps_each_mailboxs_own(
    org: Org,
) -> None:
    # Each user brings a mailbox; two of them carry alerts, in the order they were raised.
    for n in range(3):
        org.add_user(f"user{n}")
    raised = datetime(2026, 12, 1, tzinfo=UTC)
    with org.tidings.uow() as uow:
        for mailbox_id, texts in (
            (org.mailboxes["user0"], ["first", "second"]),
            (org.mailboxes["user2"], ["only"]),
        ):
            for text in texts:
                uow.mailboxes.add_alert(mailbox_id, Alert(AlertLevel.WARNING, text, raised))
        uow.commit()
    few, listed = _statements_while_listing(org)
    assert listed["user0@northwind.example"] == ["first", "second"]
    assert listed["user1@northwind.example"] == []
    assert listed["user2@northwind.example"] == ["only"]

    for n in range(3, 40):
        org.add_user(f"user{n}")
    many, listed = _statements_while_listing(org)
    assert len(listed) == 41
    assert many == few
