"""Graph's lifecycle notifications, end to end: the contract fake posts them to Tidings' real
notification endpoint, served over HTTPS, and the sync engine acts on them
(learn.microsoft.com/graph/change-notifications-lifecycle-events)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.builders import Org, TickingClock, make_email, wall_clock
from tests.contract.graph_source import GraphSource, graph_source
from tests.contract.https_app import https_app
from tests.integration.sync_run import SyncRun, org_syncing
from tests.waiting import wait_until
from tidings.domain.stored import ActivityFilter
from tidings.entrypoints.api.app import create_app

DANA = "dana@northwind.example"


@dataclass
class Pushed:
    """Sync running with change notifications: Tidings' API is where Graph posts them."""

    org: Org
    run: SyncRun
    source: GraphSource
    url: str
    clock: TickingClock

    def subjects(self) -> list[str]:
        activities = self.org.tidings.queries.activities(ActivityFilter(limit=500)).items
        return sorted(a.subject for a in activities)

    def delta_rounds(self, address: str) -> int:
        return len(
            [u for _, u in self.source.graph.requests if "/messages/delta" in u and address in u]
        )

    def renewals(self, subscription_id: str) -> int:
        wanted = ("PATCH", f"/v1.0/subscriptions/{subscription_id}?")
        return self.source.graph.requests.count(wanted)


@pytest.fixture
def pushed(tmp_path: Path, database_url: str) -> Iterator[Pushed]:
    clock = wall_clock()
    with (
        org_syncing(database_url, clock=clock) as (org, run),
        graph_source(tmp_path / "graph") as source,
    ):
        tidings = org.tidings
        source.connect(org, ["dana", "sam"])
        # The category Tidings writes on tracked mail brings "updated" notifications of its
        # own; these tests count what each lifecycle event alone makes sync do.
        org.configure(use_tracked_category=False)
        with https_app(create_app(tidings), source.graph.certificates) as base:
            url = f"{base}/api/push/exchange_online"
            with tidings.uow() as uow:
                for profile in uow.server_profiles.all():
                    # Hourly polling: within a test, only a notification makes sync look.
                    profile.options["notification_url"] = url
                    profile.min_polling_interval_minutes = 60
                    uow.server_profiles.save(profile)
                uow.commit()
            source.deliver(DANA, make_email(subject="First", message_id="<f@c.example>"))
            run.start(tidings.sync)  # shares the notification hub with the API
            run.wait_for(lambda: len(run.results) == 1)
            yield Pushed(org, run, source, url, clock)
            run.stop()


def test_subscriptions_ask_for_lifecycle_notifications_at_the_notification_url(pushed):
    # Graph sends lifecycle notifications only to subscriptions created with a
    # lifecycleNotificationUrl; Tidings names its one endpoint for both kinds.
    subscription = pushed.source.graph.subscription_for(DANA)
    assert (subscription.notification_url, subscription.lifecycle_url) == (pushed.url, pushed.url)


def test_a_reauthorization_request_renews_the_subscription_and_looks_for_unannounced_mail(
    pushed,
):
    # Graph pauses change notifications until the app reauthorizes: Tidings renews at once
    # (an update reauthorizes too), then a delta round finds the mail that came unannounced,
    # and notifications flow again.
    graph = pushed.source.graph
    subscription = graph.subscription_for(DANA)
    graph.deliver(
        DANA, make_email(subject="Paused", message_id="<p@c.example>"), notify_subscribers=False
    )
    graph.require_reauthorization(subscription.id)
    pushed.run.wait_for(lambda: len(pushed.run.results) == 2)
    assert graph.lifecycle_notifications == [(subscription.id, "reauthorizationRequired", 202)]
    assert pushed.renewals(subscription.id) == 1 and not subscription.paused
    pushed.source.deliver(DANA, make_email(subject="Resumed", message_id="<r@c.example>"))
    pushed.run.wait_for(lambda: len(pushed.run.results) == 3)
    assert graph.subscription_for(DANA).id == subscription.id
    assert pushed.subjects() == ["First", "Paused", "Resumed"]


def test_a_removed_subscription_is_replaced_and_mail_that_came_meanwhile_is_tracked(pushed):
    # No notification comes between Graph removing a subscription and its replacement:
    # Tidings subscribes again and runs a delta round for what it may have missed.
    graph = pushed.source.graph
    removed = graph.subscription_for(DANA)
    graph.deliver(
        DANA, make_email(subject="Meanwhile", message_id="<m@c.example>"), notify_subscribers=False
    )
    graph.remove_subscription(removed.id)
    pushed.run.wait_for(lambda: len(pushed.run.results) == 2)
    replacement = graph.subscription_for(DANA)
    assert replacement.id != removed.id
    assert (replacement.folder_id, replacement.lifecycle_url) == (removed.folder_id, pushed.url)
    assert graph.lifecycle_notifications == [(removed.id, "subscriptionRemoved", 202)]
    pushed.source.deliver(DANA, make_email(subject="Later", message_id="<l@c.example>"))
    pushed.run.wait_for(lambda: len(pushed.run.results) == 3)
    assert pushed.subjects() == ["First", "Later", "Meanwhile"]
    pushed.run.stop()
    assert graph.subscriptions == {}  # the replacement is deleted when sync stops


def test_missed_notifications_make_sync_look_again(pushed):
    # Graph says some notifications were not delivered: a delta round finds their mail, and
    # the subscription stays as it is.
    graph = pushed.source.graph
    subscription = graph.subscription_for(DANA)
    graph.deliver(
        DANA, make_email(subject="Lost", message_id="<x@c.example>"), notify_subscribers=False
    )
    graph.report_missed(subscription.id)
    pushed.run.wait_for(lambda: len(pushed.run.results) == 2)
    assert graph.lifecycle_notifications == [(subscription.id, "missed", 202)]
    assert graph.subscription_for(DANA).id == subscription.id
    assert pushed.renewals(subscription.id) == 0
    assert pushed.subjects() == ["First", "Lost"]


def test_a_lifecycle_notification_without_the_client_state_is_ignored(pushed):
    # Anyone may post to the endpoint: a forged subscriptionRemoved, with the right
    # subscription id but a guessed clientState, is answered 202 and changes nothing. The
    # genuine notice that follows is handled after it, and finds it ignored.
    graph = pushed.source.graph
    subscription = graph.subscription_for(DANA)
    forged = {
        "subscriptionId": subscription.id,
        "clientState": "guessed",
        "tenantId": graph.tenant_id,
        "lifecycleEvent": "subscriptionRemoved",
    }
    verify = ssl.create_default_context(cafile=graph.ca_file)
    answer = httpx.post(pushed.url, json={"value": [forged]}, verify=verify)
    assert answer.status_code == 202
    rounds = pushed.delta_rounds("dana")
    graph.deliver(
        DANA, make_email(subject="Lost", message_id="<g@c.example>"), notify_subscribers=False
    )
    graph.report_missed(subscription.id)
    pushed.run.wait_for(lambda: len(pushed.run.results) == 2)
    assert graph.subscription_for(DANA).id == subscription.id
    assert pushed.delta_rounds("dana") == rounds + 1


def test_a_subscription_is_renewed_by_tidings_clock_before_it_lapses(pushed):
    # Subscriptions on messages last two days; Tidings renews one with half a day left, by
    # the clock it is given. A day and a half later, the next wait renews it, and Graph
    # extends it by two days from then.
    graph = pushed.source.graph
    subscription = graph.subscription_for(DANA)
    first_expiry = subscription.expires
    assert pushed.renewals(subscription.id) == 0
    pushed.clock.advance(hours=37)
    # New mail ends the current wait (timed by the old clock); the next wait renews.
    pushed.source.deliver(DANA, make_email(subject="Later", message_id="<lt@c.example>"))
    pushed.run.wait_for(lambda: len(pushed.run.results) == 2)
    # The fake logs a request as it arrives and applies it after: wait for the new expiry,
    # not for the request, which may be seen before it is applied.
    wait_until(lambda: graph.subscription_for(DANA).expires != first_expiry, 20, "the renewal")
    assert pushed.renewals(subscription.id) == 1
    renewed = graph.subscription_for(DANA)
    assert renewed.id == subscription.id
    assert renewed.expires - first_expiry > timedelta(hours=36)
    assert pushed.subjects() == ["First", "Later"]
