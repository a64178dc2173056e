"""Which worker holds which mailbox: the fair-share rule that spreads mailboxes over workers.

Every worker applies the same two rules to what it alone knows for sure (how many mailboxes
it holds) and what all workers read alike (how many mailboxes should sync and how many
workers are alive). A worker *takes* a mailbox only while it holds fewer than its share, and
*hands back* only what it holds above its share. Taking stops at the share and handing back
starts above it, so no mailbox moves back and forth between workers that agree on the
counts: once the counts stop changing, every mailbox is held and nothing moves.

There is always room: ``share * workers >= mailboxes``, so a mailbox that one worker hands
back or refuses is taken by another one below its share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

#: Slack above the even split before a worker hands mailboxes back: a worker joining or
#: leaving does not make every other one give up a mailbox over a rounding.
SLACK = 0.10


def fair_share(mailboxes: int, workers: int) -> int:
    """The most mailboxes one worker should hold: the even split plus ``SLACK``, and never
    less than the rounded-up split (at least 1 while there is a mailbox)."""
    if mailboxes <= 0:
        return 0
    workers = max(workers, 1)
    even = mailboxes / workers
    return max(math.ceil(even), math.floor(even * (1 + SLACK)))


def takes_another(held: int, mailboxes: int, workers: int) -> bool:
    """Whether a worker holding ``held`` mailboxes should take one more."""
    return held < fair_share(mailboxes, workers)


def excess(held: int, mailboxes: int, workers: int) -> int:
    """How many of its ``held`` mailboxes a worker should hand back."""
    return max(0, held - fair_share(mailboxes, workers))


@dataclass(frozen=True)
class Holder:
    """The worker syncing a mailbox now (``host:pid``), and since when."""

    worker: str
    since: datetime
