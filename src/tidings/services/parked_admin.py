"""Parked email in the console and the API: the list, and replaying one or all of them."""

from __future__ import annotations

from collections.abc import Callable

from tidings.domain.people import Caller, Privilege
from tidings.domain.stored import ParkedEmail
from tidings.services.ports import UnitOfWork
from tidings.services.tracking.pipeline import ReplayService
from tidings.services.tracking.results import IngestResult


class ParkedEmailService:
    """``tidings replay`` for callers whose roles allow it."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], replay: ReplayService) -> None:
        self._uow = uow_factory
        self._replay = replay

    def list_parked(self, caller: Caller) -> list[ParkedEmail]:
        scope = caller.scope(Privilege.READ_MAILBOXES)
        with self._uow() as uow:
            return uow.parked.all(scope=scope)

    def replayable_ids(self, caller: Caller) -> frozenset[int]:
        """The parked email the caller may replay: of the mailboxes within *write mailboxes*
        (none when the privilege is not held)."""
        scope = caller.reach(Privilege.WRITE_MAILBOXES)
        with self._uow() as uow:
            return frozenset(p.id for p in uow.parked.all(scope=scope))

    def replay(self, caller: Caller, parked_id: int) -> IngestResult:
        """Process one parked email again; on success it leaves the parked list. Email of a
        mailbox out of the caller's *write mailboxes* reach is not found."""
        return self._replay.replay(parked_id, scope=caller.scope(Privilege.WRITE_MAILBOXES))

    def replay_all(self, caller: Caller) -> list[IngestResult]:
        """Process every parked (and never decided) email again, of the mailboxes within
        the caller's *write mailboxes* reach; the others are left for whoever reaches them."""
        return self._replay.replay_all(scope=caller.scope(Privilege.WRITE_MAILBOXES))
