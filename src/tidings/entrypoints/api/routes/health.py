"""Liveness, readiness and Prometheus metrics for operators and orchestrators."""

from collections.abc import Iterator, Mapping
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from typing_extensions import override

from tidings import __version__
from tidings.domain.access_levels import AccessLevel
from tidings.domain.errors import NotAuthorizedError
from tidings.domain.people import Caller, Privilege
from tidings.entrypoints.api.deps import TidingsDep, require
from tidings.services.observability import ObservabilityService

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(tidings: TidingsDep) -> dict[str, str]:
    """Liveness: the process answers and reaches its database; needs no sign-in."""
    tidings.queries.mailboxes()
    return {"status": "ok", "version": __version__}


@router.get("/readyz", responses={503: {"description": "Not ready: the checks say why"}})
def readyz(tidings: TidingsDep) -> JSONResponse:
    """Readiness: the database answers, its migrations are current and a sync worker has
    reported lately; 503 with each check otherwise. Needs no sign-in and shows no data."""
    readiness = tidings.observability.readiness()
    body = {
        "status": "ready" if readiness.ready else "not ready",
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in readiness.checks},
    }
    return JSONResponse(body, status_code=200 if readiness.ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics(
    tidings: TidingsDep,
    caller: Annotated[Caller, require(Privilege.READ_MAILBOXES)],
) -> Response:
    """The organization's figures in Prometheus' text format. Scrape it with an API token of
    a user who may read every mailbox, at Organization level (``authorization: {credentials:
    tdg_…}`` in Prometheus): the figures count all of them."""
    if caller.level(Privilege.READ_MAILBOXES) is not AccessLevel.ORGANIZATION:
        raise NotAuthorizedError(
            "the metrics count every mailbox: reading them needs read_mailboxes at "
            "Organization level"
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_TidingsCollector(tidings.observability))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _TidingsCollector(Collector):
    def __init__(self, observability: ObservabilityService) -> None:
        self._observability = observability

    @override
    def collect(self) -> Iterator[Metric]:
        decided = CounterMetricFamily(
            "tidings_emails_decided",
            "Emails decided, by outcome and the rule that decided (none when tracked)",
            labels=["outcome", "rule"],
        )
        for (outcome, rule), count in sorted(self._observability.decision_counts().items()):
            decided.add_metric([outcome, rule], count)
        yield decided
        snap = self._observability.snapshot()
        yield _gauge(
            "tidings_emails_parked",
            "Emails parked now, by stage and error type",
            ["stage", "error_type"],
            snap.parked_by_stage,
        )
        yield _gauge(
            "tidings_activities",
            "Email activities by direction and status",
            ["direction", "status"],
            snap.activities_by_status,
        )
        yield _gauge(
            "tidings_folders",
            "Synced folders by what sync is doing (idle: an open IDLE session or push)",
            ["mode"],
            snap.folders_by_mode,
        )
        yield _gauge(
            "tidings_mailbox_backlog",
            "Messages on the server not yet ingested, by mailbox id",
            ["mailbox_id"],
            {(str(m.mailbox_id),): m.backlog for m in snap.mailboxes},
        )
        yield _gauge(
            "tidings_mailbox_sync_lag_seconds",
            "Seconds since every folder of the mailbox was last caught up, by mailbox id",
            ["mailbox_id"],
            {
                (str(m.mailbox_id),): m.lag_seconds
                for m in snap.mailboxes
                if m.lag_seconds is not None
            },
        )
        yield _gauge(
            "tidings_send_queue",
            "Email written in the CRM by sending phase",
            ["phase"],
            snap.outbox_by_phase,
        )
        oldest = GaugeMetricFamily(
            "tidings_send_queue_oldest_seconds",
            "Seconds the oldest queued email has waited (0 when none waits)",
        )
        oldest.add_metric([], snap.oldest_queued_seconds or 0.0)
        yield oldest
        yield _gauge(
            "tidings_webhook_deliveries",
            "Webhook deliveries by status",
            ["status"],
            snap.webhook_deliveries_by_status,
        )
        workers = GaugeMetricFamily("tidings_workers", "Sync workers that reported lately")
        workers.add_metric([], snap.live_workers)
        yield workers


def _gauge(
    name: str, documentation: str, labels: list[str], values: Mapping[tuple[str, ...], float]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family
