"""What the conformance suite needs of a mail source: a real server (Dovecot for IMAP and
POP3) or a vendor's contract fake (Graph, EWS, Gmail), driven the same way.

Each source module under ``tests/contract/`` (or ``tests/conformance/`` for the real servers)
offers a context manager that starts its server and yields a ``MailSource``; ``SOURCES`` in
``tests/conformance/sources.py`` names them all, and the suite runs once per name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tests.builders import Org


class MailSource(Protocol):
    """One running mail system and how a test drives it."""

    #: The pytest id: "imap", "pop3", "graph", "ews", "gmail".
    name: str
    #: False for POP3, which has only an Inbox.
    has_folders: bool
    #: Whether the system can tell a client to slow down (IMAP and POP3 cannot).
    can_throttle: bool

    def connect(self, org: Org, users: list[str]) -> None:
        """Give the mailboxes of ``users`` (local parts: "dana", "sam") a server profile of
        this system with credentials that work, as an admin would set them up."""
        ...

    def break_credentials(self, org: Org, user: str) -> None:
        """Make ``user``'s mailbox log in with credentials the system refuses."""
        ...

    def deliver(self, address: str, raw: bytes, folder: str = "INBOX") -> None:
        """Put ``raw`` into ``folder`` of the mailbox at ``address``, as arriving mail."""
        ...

    def lose_cursors(self) -> None:
        """Make the system forget every cursor it handed out (Graph 410, Gmail 404 for an
        old historyId, EWS invalid sync state; IMAP: a new UIDVALIDITY)."""
        ...

    def throttle(self, requests: int) -> None:
        """Answer the next ``requests`` requests with the system's throttling response."""
        ...

    def sent(self, address: str) -> list[bytes]:
        """The messages sent through the mailbox at ``address`` so far, as sent."""
        ...

    def withhold(self, address: str, message_id: str, withheld: bool) -> None:
        """Make the system list a message of the Inbox but fail to hand it over, or hand it
        over again: Dovecot cannot read its file, Exchange cannot convert it to MIME
        (ErrorMimeContentConversionFailed), Graph and Gmail answer 500 for it."""
        ...


class CategorySource(MailSource, Protocol):
    """A mail source whose messages carry categories (IMAP keywords, Exchange categories,
    Gmail labels), set or removed by a person in a mail client (``has_categories``)."""

    has_categories: bool

    def stored_category(self, category: str) -> str:
        """How the system names the tracked category (IMAP: its keyword)."""
        ...

    def set_category(self, address: str, message_id: str, category: str, present: bool) -> None:
        """Set (or remove) ``category`` on a message of the Inbox, as a person does."""
        ...

    def categories(self, address: str, message_id: str) -> set[str]:
        """The categories on a message of the Inbox, as the system names them."""
        ...


class MovingSource(MailSource, Protocol):
    """A mail source with folders (``has_folders``) whose messages a person moves between
    folders or deletes, as a mail client does."""

    def move(self, address: str, message_id: str, source: str, destination: str) -> None:
        """Move the message with this Message-ID from folder ``source`` to ``destination``."""
        ...

    def delete(self, address: str, message_id: str, folder: str = "INBOX") -> None:
        """Delete the message with this Message-ID from ``folder`` for good."""
        ...
