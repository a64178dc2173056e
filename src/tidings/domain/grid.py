"""Grids: how a list is sorted, paged and filtered, as pure values every layer shares.

A grid's state travels in the URL (``?sort=-address&page=3&size=50``); these functions read
it leniently — an unknown sort column or a page past the end falls back to a default and
says so — because a link an admin bookmarked must never end in an error page. Storage turns
the same values into ``ORDER BY``/``LIMIT``/``OFFSET`` (adapters/storage/grid_query.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from tidings.domain.mailbox import ApprovalStatus, Mailbox, TestStatus
from tidings.domain.mailbox_views import MailboxView
from tidings.domain.records import RecordRef
from tidings.domain.server_profile import ServerProfile, ServerProfileKind

T = TypeVar("T")

#: The page sizes an admin can choose, as D365 offers them.
PAGE_SIZES = (25, 50, 100, 250)
DEFAULT_PAGE_SIZE = 50
#: Rows read per statement when a whole view is streamed (a CSV export).
EXPORT_CHUNK = 500
#: The largest page number taken; beyond it no grid here has rows, and offsets stay small.
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class Sort:
    """One column and its direction; the grid adds the id as a tie-break for stable pages."""

    column: str
    descending: bool = False

    @property
    def token(self) -> str:
        """How the URL writes it: ``address`` or ``-address``."""
        return f"-{self.column}" if self.descending else self.column

    def toggled(self, column: str) -> Sort:
        """The sort a click on ``column``'s header asks for."""
        if column == self.column:
            return Sort(column, not self.descending)
        return Sort(column)


@dataclass(frozen=True)
class PageRequest:
    """Which slice of the rows to show."""

    number: int = 1
    size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


@dataclass(frozen=True)
class GridPage(Generic[T]):
    """One page of rows and how many rows the whole view holds."""

    rows: Sequence[T]
    total: int
    page: PageRequest

    @property
    def first(self) -> int:
        """The 1-based position of the first row shown (0 when none is)."""
        return self.page.offset + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.page.offset + len(self.rows)

    @property
    def pages(self) -> int:
        return max((self.total + self.page.size - 1) // self.page.size, 1)


def parse_sort(
    text: str | None, columns: Collection[str], default: Sort
) -> tuple[Sort, str | None]:
    """The sort ``text`` names, or ``default`` with a message saying why it was not used."""
    if not text:
        return default, None
    descending = text.startswith("-")
    column = text.removeprefix("-")
    if column not in columns:
        return default, f"cannot sort by {column[:40]!r}; sorted by {default.column} instead"
    return Sort(column, descending), None


def parse_page(number: str | None, size: str | None) -> tuple[PageRequest, str | None]:
    """The page asked for; a page or size that is not a number falls back to the first
    page or the default size, with a message."""
    problems = []
    page_number = _whole(number)
    if page_number is None or not 1 <= page_number <= MAX_PAGE:
        if number:
            problems.append(f"no page {number[:20]!r}; showing the first")
        page_number = 1
    page_size = _whole(size)
    if page_size not in PAGE_SIZES:
        if size:
            problems.append(f"page size must be one of {', '.join(map(str, PAGE_SIZES))}")
        page_size = DEFAULT_PAGE_SIZE
    return PageRequest(page_number, page_size), "; ".join(problems) or None


def last_page(page: PageRequest, total: int) -> PageRequest:
    """``page`` or, past the end of ``total`` rows, the last page that has rows."""
    last = max((total + page.size - 1) // page.size, 1)
    return page if page.number <= last else PageRequest(last, page.size)


def _whole(text: str | None) -> int | None:
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 9:
        return None
    return int(text)


#: The mailbox grid's sortable columns, by their URL name.
MAILBOX_COLUMNS = (
    "address",
    "owner",
    "profile",
    "approval",
    "incoming_status",
    "outgoing_status",
    "enabled",
)
MAILBOX_DEFAULT_SORT = Sort("address")


@dataclass(frozen=True)
class MailboxFilter:
    """Which mailboxes a grid shows: a system view narrowed by column filters and text."""

    view: MailboxView = MailboxView.ALL
    approval: ApprovalStatus | None = None
    incoming_status: TestStatus | None = None
    outgoing_status: TestStatus | None = None
    owner: RecordRef | None = None
    profile_id: int | None = None
    #: Words to find in the address, the owner's name or the profile's name.
    text: str | None = None


@dataclass(frozen=True)
class MailboxListing:
    """A mailbox as a list shows it: with its owner's and its profile's names."""

    mailbox: Mailbox
    owner_name: str | None
    profile_name: str | None


#: The activity grid's sortable columns, by their URL name.
ACTIVITY_COLUMNS = ("subject", "sender", "direction", "status", "mailbox", "received")
ACTIVITY_DEFAULT_SORT = Sort("received", descending=True)


@dataclass(frozen=True)
class DateRange:
    """Days from ``start`` to ``end``, both included; either may be open."""

    start: date | None = None
    end: date | None = None

    def is_open(self) -> bool:
        return self.start is None and self.end is None


#: Characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """``value`` as a CSV cell that no spreadsheet runs: a leading formula character is
    escaped with a single quote, as OWASP recommends."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


#: The grids whose views a user can save, by the name their saved views carry.
GRIDS = ("mailboxes", "activities")
#: D365 limits a view's name to 200 characters; a console list reads better with fewer.
VIEW_NAME_LENGTH = 100


@dataclass(frozen=True)
class SavedView:
    """A personal view: a grid's filters, sort and page size kept under a name."""

    user_id: int
    grid: str
    name: str
    #: The grid's URL query, as the console wrote it (only the grid's own parameters).
    query: str
    id: int | None = None


#: The email server profile grid's sortable columns, by their URL name.
PROFILE_COLUMNS = ("name", "kind", "incoming_host", "mailboxes")
PROFILE_DEFAULT_SORT = Sort("name")


@dataclass(frozen=True)
class ProfileFilter:
    """Which email server profiles a grid shows."""

    kind: ServerProfileKind | None = None
    #: Words to find in the name or the incoming or outgoing host name.
    text: str | None = None


@dataclass(frozen=True)
class ProfileListing:
    """A profile as its grid shows it: with how many mailboxes use it."""

    profile: ServerProfile
    mailboxes: int


#: The user grid's sortable columns, by their URL name.
USER_COLUMNS = ("name", "email", "status")
USER_DEFAULT_SORT = Sort("name")


@dataclass(frozen=True)
class UserFilter:
    """Which users a grid shows."""

    #: True: enabled users only; False: disabled ones only; None: both.
    active: bool | None = None
    #: Words to find in the full name or the email address.
    text: str | None = None
