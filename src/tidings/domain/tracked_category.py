"""The "Tracked" category: what Tidings writes onto the email it tracks, and what a person
sets on an email to have it tracked (D365's "Tracked to Dynamics 365" category).

Exchange and Gmail take the category's name as it is (an Outlook category, a Gmail label).
IMAP has keywords, which must be atoms (RFC 3501 §9: ``flag-keyword = atom``): the name is
mapped to one by replacing every character an atom cannot hold with ``_``, so
"Tracked to Tidings" is the keyword ``Tracked_to_Tidings``. Keywords compare without regard
to case (RFC 3501 §2.3.2).

A mark is what Tidings last knew of one kept email's category on the server: whether it was
there, and whether Tidings wrote it. A change is only acted on when it is a change from the
mark: an email whose category Tidings never saw cannot have it "removed".
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tidings.domain.errors import FieldValueError

DEFAULT_CATEGORY = "Tracked to Tidings"
#: Dovecot refuses keywords longer than 50 characters (``mail_max_keyword_length``).
MAX_CATEGORY = 50
#: RFC 3501 §9: ``atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
#: quoted-specials / resp-specials``; list-wildcards are ``%`` and ``*``, quoted-specials
#: ``"`` and ``\\``, resp-specials ``]``.
_ATOM_SPECIALS = frozenset('(){ %*"\\]')
#: The rule that names the category in a decision's reasons.
MARKED_RULE = "marked_with_category"
UNMARKED_RULE = "category_removed"


def check_category(name: str) -> str:
    """The category's name as stored: trimmed, 1–64 printable characters."""
    text = " ".join(str(name).split())
    if not text:
        raise _bad("the tracked category needs a name")
    if len(text) > MAX_CATEGORY:
        raise _bad(f"the tracked category can have at most {MAX_CATEGORY} characters")
    if not text.isprintable():
        raise _bad("the tracked category cannot hold control characters")
    if "," in text:
        raise _bad("the tracked category cannot hold a comma (Outlook splits on it)")
    return text


def _bad(problem: str) -> FieldValueError:
    return FieldValueError({"tracked_category": problem}, problem)


def imap_keyword(category: str) -> str:
    """The IMAP keyword a category maps to: an atom, never a system flag (no leading ``\\``)."""
    atom = "".join(
        c if " " < c < "\x7f" and c not in _ATOM_SPECIALS else "_" for c in category.strip()
    )
    return atom or "Tracked"


def has_keyword(flags: Iterable[str], keyword: str) -> bool:
    wanted = keyword.lower()
    return any(flag.lower() == wanted for flag in flags)


def keyword_allowed(permanent_flags: frozenset[str] | None, keyword: str) -> bool:
    """Whether a folder keeps ``keyword`` for good (RFC 3501 §7.1: PERMANENTFLAGS lists the
    flags that stick; ``\\*`` says new keywords can be made). A server that sent no
    PERMANENTFLAGS keeps every flag of FLAGS; Tidings then does not risk writing."""
    if permanent_flags is None:
        return False
    return "\\*" in permanent_flags or has_keyword(permanent_flags, keyword)


@dataclass(frozen=True)
class FlagState:
    """One message's flags as the server reported them, with the change's MODSEQ if any."""

    uid: int
    flags: frozenset[str]
    modseq: int | None = None


@dataclass(frozen=True)
class CategoryMark:
    """What Tidings last knew of one kept email's category on its server."""

    raw_message_id: int
    present: bool
    changed_at: datetime
    #: When Tidings wrote the category itself (never again once set).
    written_at: datetime | None = None
    #: The email's read state as last seen (None when not known).
    seen: bool | None = None


class CategoryChange(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    NONE = "none"


def category_change(mark: CategoryMark | None, present: bool) -> CategoryChange:
    """What a newly seen state means, given the mark (no mark: never seen present)."""
    was = mark is not None and mark.present
    if present and not was:
        return CategoryChange.ADDED
    if was and not present:
        return CategoryChange.REMOVED
    return CategoryChange.NONE
