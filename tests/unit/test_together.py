"""Work folders hand over at the same moment, done together (services/sync/together.py)."""

from __future__ import annotations

import asyncio

import pytest

from tidings.services.sync.together import Together


def test_what_is_handed_over_meanwhile_is_one_call_and_each_gets_its_own_result() -> None:
    calls: list[list[int]] = []

    def square(items: list[int]) -> list[int]:
        calls.append(items)
        return [item * item for item in items]

    together: Together[int, int] = Together(square)

    async def handed() -> list[int]:
        return await asyncio.gather(*(together.run(n) for n in range(1, 6)))

    assert asyncio.run(handed()) == [1, 4, 9, 16, 25]
    assert calls == [[1, 2, 3, 4, 5]]


def test_what_comes_while_a_call_runs_goes_in_the_next() -> None:
    calls: list[list[str]] = []

    def echo(items: list[str]) -> list[str]:
        calls.append(items)
        return items

    together: Together[str, str] = Together(echo)

    async def later() -> None:
        first = asyncio.ensure_future(together.run("a"))
        await asyncio.sleep(0)  # the first call is under way
        assert list(await asyncio.gather(together.run("b"), together.run("c"))) == ["b", "c"]
        assert await first == "a"

    asyncio.run(later())
    assert calls in ([["a"], ["b", "c"]], [["a", "b", "c"]])


def test_a_failed_call_of_many_is_done_again_one_by_one_and_only_the_faulty_one_fails() -> None:
    def refuses_negatives(items: list[int]) -> list[int]:
        if any(item < 0 for item in items):
            raise ValueError(f"negative among {items}")
        return items

    together: Together[int, int] = Together(refuses_negatives)

    async def handed() -> list[int | BaseException]:
        return await asyncio.gather(*(together.run(n) for n in (1, -2, 3)), return_exceptions=True)

    first, second, third = asyncio.run(handed())
    assert (first, third) == (1, 3)
    assert isinstance(second, ValueError) and str(second) == "negative among [-2]"


def test_a_caller_cancelled_while_waiting_leaves_its_work_to_be_done() -> None:
    done: list[int] = []

    def keep(items: list[int]) -> list[None]:
        done.extend(items)
        return [None for _ in items]

    together: Together[int, None] = Together(keep)

    async def cancelled() -> None:
        waiting = asyncio.ensure_future(together.run(1))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await together.run(2)

    asyncio.run(cancelled())
    assert done == [1, 2]
