"""The back-off of the queue's tasks: doubling waits capped at an hour, the wait a step
names when it asks to be tried later, and no retry after the last attempt."""

from __future__ import annotations

from procrastinate.jobs import Job

from tidings.adapters.task_queue.procrastinate_queue import BackoffRetry
from tidings.domain.retry import Backoff, RetryLater


def _job(attempts: int) -> Job:
    return Job(
        id=1,
        queue="default",
        lock="send:1",
        queueing_lock="send:1",
        task_name="send_email",
        attempts=attempts,
    )


def test_the_waits_double_from_the_first_up_to_the_cap() -> None:
    backoff = Backoff(first=30, cap=3600)
    assert [backoff.delay(n) for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]


def test_a_failed_run_is_retried_after_the_back_off_until_the_last_attempt() -> None:
    strategy = BackoffRetry(3, Backoff(first=10))
    first = strategy.get_retry_decision(exception=OSError("reset"), job=_job(0))
    second = strategy.get_retry_decision(exception=OSError("reset"), job=_job(1))
    assert first is not None and first.retry_at is not None
    assert second is not None and second.retry_at is not None
    assert round((second.retry_at - first.retry_at).total_seconds()) == 10
    assert strategy.get_retry_decision(exception=OSError("reset"), job=_job(2)) is None


def test_a_step_that_names_its_wait_is_retried_after_it() -> None:
    strategy = BackoffRetry(5, Backoff(first=10))
    named = strategy.get_retry_decision(exception=RetryLater("lease", 600), job=_job(0))
    default = strategy.get_retry_decision(exception=OSError("reset"), job=_job(0))
    assert named is not None and named.retry_at is not None
    assert default is not None and default.retry_at is not None
    assert round((named.retry_at - default.retry_at).total_seconds()) == 590
