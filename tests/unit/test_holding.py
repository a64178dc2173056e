"""The fair-share rule that spreads mailboxes over workers, and that it settles: whatever
order workers fetch, refuse and hand back in, every mailbox ends up held, no worker above its
share, and then nothing moves."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.domain.holding import excess, fair_share, takes_another


def test_the_share_is_the_even_split_rounded_up_with_ten_percent_slack_above_it() -> None:
    assert fair_share(6, 2) == 3
    assert fair_share(7, 2) == 4
    assert fair_share(100, 3) == 36  # 33.3 even, 36.6 with the slack
    assert fair_share(1000, 10) == 110
    assert fair_share(5, 10) == 1
    assert fair_share(0, 3) == 0
    assert fair_share(4, 0) == 4  # a worker not yet counted itself holds them all


@given(st.integers(0, 10_000), st.integers(1, 200))
def test_the_workers_shares_always_make_room_for_every_mailbox(
    mailboxes: int, workers: int
) -> None:
    share = fair_share(mailboxes, workers)
    assert share * workers >= mailboxes
    assert share >= math.ceil(mailboxes / workers)
    assert share <= max(math.ceil(mailboxes / workers), mailboxes / workers * 1.1)


@given(st.integers(0, 500), st.integers(0, 500), st.integers(1, 20))
def test_taking_stops_where_handing_back_starts(held: int, mailboxes: int, workers: int) -> None:
    # A worker never both takes another and hands one back: no mailbox moves to and fro.
    assert not (takes_another(held, mailboxes, workers) and excess(held, mailboxes, workers))
    if takes_another(held, mailboxes, workers):
        assert excess(held + 1, mailboxes, workers) == 0


class Cluster:
    """Workers and a queue of mailboxes, stepped as the hold jobs step them."""

    def __init__(self, mailboxes: int, workers: int) -> None:
        self.mailboxes = mailboxes
        self.held: list[list[int]] = [[] for _ in range(workers)]
        self.queued = list(range(mailboxes))
        self.moves = 0

    def fetch(self, worker: int) -> None:
        """The worker fetches the next queued mailbox: it keeps it or puts it back."""
        if not self.queued:
            return
        mailbox = self.queued.pop(0)
        if takes_another(len(self.held[worker]), self.mailboxes, len(self.held)):
            self.held[worker].append(mailbox)
            self.moves += 1
        else:
            self.queued.append(mailbox)

    def check(self, worker: int) -> None:
        """The worker's periodic look: the newest it holds above its share go back."""
        over = excess(len(self.held[worker]), self.mailboxes, len(self.held))
        for _ in range(over):
            self.queued.append(self.held[worker].pop())

    def join(self) -> None:
        self.held.append([])

    def leave(self, worker: int) -> None:
        self.queued += self.held.pop(worker)

    def settle(self, order: list[int]) -> None:
        """Run the workers' steps in ``order`` (then round-robin) until nothing is queued."""
        steps = [*order, *range(len(self.held))] * (self.mailboxes + 5)
        for step in steps:
            worker = step % len(self.held)
            self.check(worker)
            self.fetch(worker)
        for worker in range(len(self.held)):
            self.check(worker)
        for worker in [*range(len(self.held))] * (self.mailboxes + 1):
            self.fetch(worker)

    def settled(self) -> bool:
        share = fair_share(self.mailboxes, len(self.held))
        return not self.queued and all(len(h) <= share for h in self.held)


@settings(max_examples=200)
@given(
    st.integers(0, 60),
    st.integers(1, 6),
    st.lists(st.integers(0, 50), max_size=200),
    st.lists(st.sampled_from(["join", "leave"]), max_size=4),
)
def test_workers_settle_with_every_mailbox_held_within_shares_and_then_nothing_moves(
    mailboxes: int, workers: int, order: list[int], changes: list[str]
) -> None:
    cluster = Cluster(mailboxes, workers)
    cluster.settle(order)
    assert cluster.settled()
    for change in changes:
        if change == "join":
            cluster.join()
        elif len(cluster.held) > 1:
            cluster.leave(order[0] % len(cluster.held) if order else 0)
        cluster.settle(order)
        assert cluster.settled()
    held = sorted(m for h in cluster.held for m in h)
    assert held == list(range(mailboxes))
    # Settled: any further steps, in any order, move nothing.
    moves = cluster.moves
    cluster.settle(order)
    assert cluster.moves == moves
