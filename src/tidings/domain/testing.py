"""The results of Test & Enable's connection checks."""

from __future__ import annotations

from dataclasses import dataclass

from tidings.domain.mailbox import TestStatus


@dataclass(frozen=True)
class ConnectionCheck:
    """One side of Test & Enable: passed or not, in words an admin can act on.

    ``permanent`` failures (wrong password, untrusted certificate) need a person; the others
    (a server that did not answer) may pass on the next try.
    """

    status: TestStatus
    message: str
    permanent: bool = False

    @classmethod
    def passed(cls, message: str) -> ConnectionCheck:
        return cls(TestStatus.SUCCESS, message)

    @classmethod
    def failed(cls, message: str, permanent: bool) -> ConnectionCheck:
        return cls(TestStatus.FAILURE, message, permanent)

    @property
    def ok(self) -> bool:
        return self.status is TestStatus.SUCCESS
