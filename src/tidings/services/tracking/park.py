"""The way out of every stage: an email whose processing fails parks with its error, its
raw bytes kept, until ``tidings replay`` puts it back on the path."""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import replace

from tidings.domain.error_text import brief
from tidings.domain.stored import StoredDecision
from tidings.domain.tracking import Outcome
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.tracking.results import IngestResult


def park(uow: UnitOfWork, clock: Clock, raw_message_id: int) -> IngestResult:
    """Park the email whose processing raised the exception being handled.

    Its error is the exception in one line (``brief``) and where it was raised: never
    the exception's whole text, which may quote a statement and all its parameters.
    """
    exception = sys.exception()
    assert exception is not None  # noqa: S101 - called while handling an exception
    described = brief(exception)
    frames = _where(exception)
    error = f"{described}\n\nTraceback (most recent call last):\n{frames}"
    error_type = type(exception).__name__
    return park_reason(uow, clock, raw_message_id, error_type, error, f"parked: {described}")


def park_reason(
    uow: UnitOfWork,
    clock: Clock,
    raw_message_id: int,
    error_type: str,
    error: str,
    summary: str,
) -> IngestResult:
    """Park an email with a reason of its own, in a savepoint of the caller's transaction."""
    with uow.savepoint():
        uow.parked.park(
            raw_message_id,
            stage="process",
            error_type=error_type,
            error=error,
            parked_at=clock.now(),
        )
    return IngestResult(raw_message_id, Outcome.PARKED, summary)


def parked_decision(decided: StoredDecision) -> StoredDecision:
    """The header decision of an email parked after it, kept with every rule's verdict."""
    error = sys.exception()
    why = type(error).__name__ if error is not None else "an error"
    return replace(
        decided,
        outcome=Outcome.PARKED,
        activity_id=None,
        summary=f"{decided.summary}; parked while reading the whole email: {why}",
    )


def _where(exception: BaseException) -> str:
    """The last frames of Tidings' own code that led to ``exception`` (the library frames
    below them say little), else its last frames."""
    frames = traceback.extract_tb(exception.__traceback__)
    own = [frame for frame in frames if f"{os.sep}tidings{os.sep}" in frame.filename]
    return "".join(traceback.format_list((own or frames)[-8:]))
