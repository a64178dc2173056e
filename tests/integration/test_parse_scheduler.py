"""The parse scheduler: urgent work first, and a waiting caller works instead of waiting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tidings.adapters.parse_scheduler import StealingScheduler


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def _blocked_until(event: threading.Event) -> str:
    event.wait()
    return "released"


def test_a_caller_runs_a_queued_task_itself_rather_than_wait(
    executor: ThreadPoolExecutor,
) -> None:
    # The only worker is busy: the task asked for is run by the caller, at once.
    release = threading.Event()
    scheduler = StealingScheduler(executor, in_flight=1)
    busy = scheduler.submit(_blocked_until, release, urgent=False)
    ran_in: list[str] = []
    wanted = scheduler.submit(
        lambda n: ran_in.append(threading.current_thread().name), 1, urgent=True
    )

    scheduler.result(wanted)

    assert ran_in == [threading.current_thread().name]
    release.set()
    assert scheduler.result(busy) == "released"


def test_urgent_tasks_are_handed_to_workers_before_later_ones(
    executor: ThreadPoolExecutor,
) -> None:
    # Header blocks queued first still wait for a whole email asked for afterwards.
    release = threading.Event()
    scheduler = StealingScheduler(executor, in_flight=1)
    busy = scheduler.submit(_blocked_until, release, urgent=False)
    later = scheduler.submit(str, "later", urgent=False)
    urgent = scheduler.submit(str, "urgent", urgent=True)
    release.set()
    assert busy.future is not None
    busy.future.result()

    last = scheduler.submit(str, "last", urgent=False)  # hands the freed slot over

    assert urgent.future is not None
    assert later.future is None and last.future is None
    assert (scheduler.result(urgent), scheduler.result(later)) == ("urgent", "later")


def test_an_error_of_a_task_run_by_the_caller_is_raised_to_it(
    executor: ThreadPoolExecutor,
) -> None:
    # A failure is the caller's to handle, wherever the task ran.
    release = threading.Event()
    scheduler = StealingScheduler(executor, in_flight=1)
    busy = scheduler.submit(_blocked_until, release, urgent=False)
    failing = scheduler.submit(int, "not a number", urgent=True)

    with pytest.raises(ValueError, match="not a number"):
        scheduler.result(failing)
    release.set()
    scheduler.result(busy)


def test_a_caller_that_does_not_help_waits_for_the_pool_to_run_the_task(
    executor: ThreadPoolExecutor,
) -> None:
    # With a worker on every core the caller leaves parsing to them, even of a queued task.
    release = threading.Event()
    scheduler = StealingScheduler(executor, in_flight=1, caller_helps=False)
    busy = scheduler.submit(_blocked_until, release, urgent=False)
    ran_in: list[str] = []
    wanted = scheduler.submit(
        lambda n: ran_in.append(threading.current_thread().name), 1, urgent=True
    )
    assert wanted.future is None  # queued behind the busy one
    release.set()

    scheduler.result(wanted)

    assert ran_in and ran_in != [threading.current_thread().name]
    assert scheduler.result(busy) == "released"


def test_without_a_pool_the_caller_runs_its_own_task() -> None:
    # While the parse processes start (or after they stopped), nothing waits for them.
    scheduler = StealingScheduler(None, in_flight=4, caller_helps=False)
    ran_in: list[str] = []
    task = scheduler.submit(
        lambda n: ran_in.append(threading.current_thread().name), 1, urgent=True
    )

    scheduler.result(task)

    assert ran_in == [threading.current_thread().name]
    assert task.future is None


def test_tasks_queued_before_a_pool_is_attached_are_handed_to_it(
    executor: ThreadPoolExecutor,
) -> None:
    scheduler = StealingScheduler(None, in_flight=4, caller_helps=False)
    ran_in: list[str] = []
    task = scheduler.submit(
        lambda n: ran_in.append(threading.current_thread().name), 1, urgent=True
    )

    scheduler.attach(executor)
    scheduler.result(task)

    assert task.future is not None
    assert ran_in and ran_in != [threading.current_thread().name]


def test_a_pool_with_tasks_out_is_not_detached(executor: ThreadPoolExecutor) -> None:
    # Stopping the pool under a task it runs would lose the task.
    release = threading.Event()
    scheduler = StealingScheduler(executor, in_flight=1, caller_helps=False)
    busy = scheduler.submit(_blocked_until, release, urgent=False)

    assert scheduler.detach() is None
    release.set()
    assert scheduler.result(busy) == "released"
    assert scheduler.detach() is executor

    after = scheduler.submit(str, "alone", urgent=True)
    assert after.future is None
    assert scheduler.result(after) == "alone"
