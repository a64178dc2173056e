"""Ingest with parsing in worker processes gives exactly what in-process parsing gives."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.builders import Org, TickingClock, make_email
from tests.conftest import settings_for
from tests.e2e.descendants import descendants, is_alive
from tests.waiting import wait_until
from tidings.adapters.parsing import ProcessPoolParser
from tidings.bootstrap import Tidings, bootstrap
from tidings.domain.message import MessageOrigin
from tidings.domain.tracking import Outcome


@pytest.fixture
def pooled(sqlite_url: str) -> Iterator[Tidings]:
    app = bootstrap(settings_for(sqlite_url, parse_workers=2), clock=TickingClock())
    app.parser.warm_up()  # otherwise the first emails may be parsed here while it starts
    yield app
    app.close()


def test_a_batch_parsed_in_worker_processes_is_recorded_whole(pooled: Tidings) -> None:
    # Bodies and attachments parsed elsewhere land on the right activities, in order.
    org = Org.create(pooled)
    mailbox = org.mailboxes["dana"]
    batch = [
        (
            make_email(
                message_id=f"<pool-{n}@c.example>",
                subject=f"Order {n}",
                body=f"Body of order {n}\n",
                attachments=[(f"order-{n}.pdf", b"%PDF " * (n + 1), "application/pdf")],
                headers={"Auto-Submitted": "auto-replied"} if n == 3 else None,
            ),
            MessageOrigin(mailbox, "INBOX", 1, str(n)),
        )
        for n in range(8)
    ]
    results = pooled.ingest.ingest_batch(batch)
    assert [r.outcome for r in results] == [Outcome.TRACKED] * 3 + [Outcome.NOT_TRACKED] + [
        Outcome.TRACKED
    ] * 4
    for n, result in enumerate(results):
        if result.activity_id is None:
            continue
        activity = pooled.queries.activity(result.activity_id).activity
        assert activity.subject == f"Order {n}"
        assert activity.text_body == f"Body of order {n}\n"
        assert [(a.filename, a.size) for a in activity.attachments] == [
            (f"order-{n}.pdf", 5 * (n + 1))
        ]


def test_a_stream_is_ingested_in_order_across_batches(pooled: Tidings) -> None:
    # ingest_many parses the next batch's headers while deciding this one; order and
    # idempotence hold across batch boundaries, and within a batch.
    org = Org.create(pooled)
    mailbox = org.mailboxes["dana"]
    emails = [
        (
            make_email(message_id=f"<s-{n}@c.example>", subject=f"S{n}"),
            MessageOrigin(mailbox, "INBOX", 1, str(n)),
        )
        for n in range(7)
    ]
    offered = [*emails, emails[2], emails[6], emails[6]]
    results = list(pooled.ingest.ingest_many(offered, batch_size=3))
    assert [r.outcome for r in results] == [Outcome.TRACKED] * 10
    assert [r.repeated for r in results] == [False] * 7 + [True] * 3
    assert results[7].activity_id == results[2].activity_id
    subjects = [pooled.queries.activity(r.activity_id).activity.subject for r in results[:7]]
    assert subjects == [f"S{n}" for n in range(7)]


def test_an_email_that_fails_to_parse_in_a_worker_fails_alone_with_its_traceback(
    pooled: Tidings,
) -> None:
    # Emails travel several to a task; one that cannot be parsed raises its own error, with
    # the worker's traceback as the cause, and the others of its task are parsed.
    good = make_email(body="Fine\n")
    handles = pooled.parser.start_emails([good, "not bytes", good])  # type: ignore[list-item]

    assert handles[0]().text_body == "Fine\n"
    with pytest.raises(AttributeError) as raised:
        handles[1]()
    assert "Traceback" in str(raised.value.__cause__)
    assert handles[2]().text_body == "Fine\n"


def test_parse_processes_stop_when_idle_and_start_again_with_the_next_email() -> None:
    # An idle worker holds no parse processes, forkserver or resource tracker; the next
    # email is parsed at once, here if need be, and brings the processes back.
    before = descendants(os.getpid())
    parser = ProcessPoolParser(2, idle_seconds=2)
    try:
        assert parser.start_emails([make_email(body="First\n")])[0]().text_body == "First\n"
        wait_until(lambda: parser.running, what="the parse processes starting")
        parser.warm_up()
        helpers = descendants(os.getpid()) - before
        assert len(helpers) >= 3  # forkserver, resource tracker, parse processes

        wait_until(
            lambda: not parser.running and not any(is_alive(pid) for pid in helpers),
            what=f"processes {sorted(helpers)} stopping after two seconds idle",
        )
        assert descendants(os.getpid()) - before == set()

        again = parser.start_emails([make_email(body=f"Again {n}\n") for n in range(20)])
        assert [handle().text_body for handle in again] == [f"Again {n}\n" for n in range(20)]
        wait_until(lambda: parser.running, what="the parse processes starting again")
    finally:
        parser.close()
    assert descendants(os.getpid()) - before == set()
