"""/readyz and /metrics: what an operator's probes and Prometheus read, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from tests.api_client import admin_client, tracking_client
from tests.builders import Org, make_email
from tidings.domain.people import TrackIncoming
from tidings.domain.sync import WorkerBeat


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_readyz_says_not_ready_until_a_sync_worker_reports_then_ready(org: Org) -> None:
    # Database and migrations are fine in a test organization; no worker has reported yet.
    client = admin_client(org)
    client.auth = None
    answer = client.get("/readyz")
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["database"]["ok"] and checks["migrations"]["ok"]
    assert checks["workers"] == {"ok": False, "detail": "0 sync worker(s) reported lately"}

    _beat(org)
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ready"


def _beat(org: Org) -> None:
    now = datetime.now(UTC)
    with org.tidings.uow() as uow:
        uow.sync.beat(WorkerBeat("w-1", "host", 1, now, now))
        uow.commit()


def test_metrics_count_decisions_by_the_rule_that_decided_and_counters_only_grow(
    org: Org,
) -> None:
    # Sam tracks only replies: a new conversation fails track_incoming_option.
    org.add_user("sam", TrackIncoming.IN_RESPONSE)
    org.deliver(make_email(message_id="<a@contoso.example>"))
    org.deliver(make_email(message_id="<b@contoso.example>", to="sam@northwind.example"), "sam")
    client = admin_client(org)

    first = _samples(client.get("/metrics").text)
    tracked = ("tidings_emails_decided_total", (("outcome", "tracked"), ("rule", "none")))
    refused = (
        "tidings_emails_decided_total",
        (("outcome", "not_tracked"), ("rule", "track_incoming_option")),
    )
    assert first[tracked] == 1
    assert first[refused] == 1
    assert first[("tidings_activities", (("direction", "incoming"), ("status", "received")))] == 1

    org.deliver(make_email(message_id="<c@contoso.example>"))
    second = _samples(client.get("/metrics").text)
    assert second[tracked] == 2
    assert second[refused] == 1


def test_metrics_need_a_caller_who_may_read_mailboxes_and_name_no_address(org: Org) -> None:
    org.deliver(make_email())
    admin = admin_client(org)
    text = admin.get("/metrics").text
    admin.auth = None
    assert admin.get("/metrics").status_code == 401
    assert tracking_client(org).get("/metrics").status_code == 403
    assert "tidings_workers 0.0" in text
    assert "@" not in text
