"""What a catch-up kept for the first time, as its flag round reads it."""

from __future__ import annotations

from tidings.domain.message import MessageOrigin
from tidings.domain.tracking import Outcome
from tidings.services.sync.freshly_kept import FreshlyKept
from tidings.services.tracking.results import IngestResult


def _origin(uid: str, folder: str = "INBOX", validity: int = 7) -> MessageOrigin:
    return MessageOrigin(1, folder, validity, uid)


def test_tracked_emails_kept_for_the_first_time_are_known_and_repeats_are_not() -> None:
    fresh = FreshlyKept()
    fresh.note(
        [_origin("10"), _origin("11"), _origin("12")],
        [
            IngestResult(100, Outcome.TRACKED, "tracked"),
            IngestResult(101, Outcome.NOT_TRACKED, "not tracked"),
            IngestResult(90, Outcome.TRACKED, "tracked", repeated=True),
        ],
    )
    # A second chunk of the same round adds to the first.
    fresh.note([_origin("13")], [IngestResult(102, Outcome.PARKED, "parked")])
    assert fresh.take((1, "INBOX")) == (7, {"10": 100, "11": None, "13": None})
    # Taken once: the next round starts afresh.
    assert fresh.take((1, "INBOX")) == (None, {})


def test_a_new_uidvalidity_starts_the_folder_afresh_and_folders_are_apart() -> None:
    fresh = FreshlyKept()
    fresh.note([_origin("10")], [IngestResult(100, Outcome.TRACKED, "tracked")])
    fresh.note([_origin("1", validity=8)], [IngestResult(200, Outcome.TRACKED, "tracked")])
    fresh.note([_origin("5", "Archive")], [IngestResult(300, Outcome.TRACKED, "tracked")])
    assert fresh.take((1, "INBOX")) == (8, {"1": 200})
    assert fresh.take((1, "Archive")) == (7, {"5": 300})
