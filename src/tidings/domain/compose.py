"""Writing email in the CRM: who may send from a mailbox, whether it can send at all, and
what a reply, reply-all or forward takes from the email it answers.

A draft is an email activity in status *draft*; sending queues it (see ``domain.outgoing``)::

    draft ──send──▶ pending send ──▶ sending ──▶ sent
                         ▲                  └──▶ failed ──retry──┘
"""

from __future__ import annotations

import enum
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from tidings.domain.access_levels import AccessLevel
from tidings.domain.activity import ActivityParty, Attachment, EmailActivity, ParticipationRole
from tidings.domain.conversation import reply_references
from tidings.domain.errors import ValidationError
from tidings.domain.mailbox import Mailbox, TestStatus
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordKind
from tidings.domain.settings import SyncMethod

if TYPE_CHECKING:
    from typing_extensions import override
else:  # the domain needs no third-party module at run time

    def override(method):  # noqa: ANN001, ANN201
        return method


class ReplyMode(enum.StrEnum):
    """How a draft answers the email it was started from."""

    REPLY = "reply"
    REPLY_ALL = "reply_all"
    FORWARD = "forward"


class MailboxCannotSendError(ValidationError):
    """The mailbox is not set up to send; the message says what an admin must do."""


@dataclass(frozen=True)
class Composition:
    """What a draft answers (if anything) and the References it will carry."""

    activity_id: int
    original_id: int | None = None
    mode: ReplyMode | None = None
    references: tuple[str, ...] = ()
    created_by: int | None = None


@dataclass(frozen=True)
class DraftAttachment:
    """An attachment of a draft, with the id that names it in the API."""

    id: int
    attachment: Attachment


@dataclass(frozen=True)
class RememberedRequest:
    """A request made with an Idempotency-Key: what it asked (a digest) and what it made."""

    operation: str
    key: str
    fingerprint: str
    activity_id: int | None


#: Longest subject kept (D365's subject column holds 800 characters).
MAX_SUBJECT = 800
#: Most recipients on one email, To, Cc and Bcc together.
MAX_RECIPIENTS = 500


#: What a caller who may not send from a mailbox is told.
NOT_YOUR_MAILBOX = (
    "you may send only from your own mailbox, or from a queue's mailbox when your security "
    "roles hold the privilege send_as_queue"
)


def may_send_from(caller: Caller, mailbox: Mailbox) -> bool:
    """Only the owner sends from a user's mailbox; a queue's, whoever may send as a queue:
    Organization-wide any queue, below that the queues one is a member of."""
    if mailbox.owner.kind is RecordKind.USER:
        return caller.user.id == mailbox.owner.id
    if mailbox.owner.kind is not RecordKind.QUEUE or not caller.can(Privilege.SEND_AS_QUEUE):
        return False
    level = caller.level(Privilege.SEND_AS_QUEUE)
    return level is AccessLevel.ORGANIZATION or mailbox.owner.id in caller.queue_ids


def why_cannot_send(mailbox: Mailbox) -> str | None:
    """What keeps ``mailbox`` from sending, in an admin's terms, or ``None``."""
    if mailbox.outgoing_method is SyncMethod.NONE:
        return (
            f"the mailbox {mailbox.address} sends no email: its outgoing email method is None; "
            "an admin sets it to server-side synchronization"
        )
    if not mailbox.is_approved:
        return f"the email address of the mailbox {mailbox.address} is not approved yet"
    if mailbox.profile_id is None:
        return f"the mailbox {mailbox.address} has no email server profile"
    if mailbox.outgoing_status is not TestStatus.SUCCESS or not mailbox.enabled:
        return (
            f"the mailbox {mailbox.address} is not enabled for outgoing email: "
            "run Test & Enable on it"
        )
    return None


def reply_subject(subject: str, mode: ReplyMode) -> str:
    """``Re:`` or ``Fw:`` once, however many the original carries."""
    prefix = "Fw: " if mode is ReplyMode.FORWARD else "Re: "
    bare = subject.strip()
    if bare.lower().startswith(prefix.lower().strip()):
        return bare
    return f"{prefix}{bare}"


def references_of(original: EmailActivity, original_references: Sequence[str]) -> tuple[str, ...]:
    """RFC 5322 §3.6.4: the parent's References (or In-Reply-To), then the parent itself,
    bounded as every stored chain is."""
    chain = list(original_references)
    if not chain and original.in_reply_to:
        chain = [original.in_reply_to]
    return reply_references(original.message_id, list(dict.fromkeys(chain)))


@dataclass(frozen=True)
class Addressing:
    """The recipients a reply starts with."""

    to: tuple[str, ...]
    cc: tuple[str, ...]


def reply_addressing(
    original: EmailActivity,
    mode: ReplyMode,
    own: Iterable[str],
    reply_to: Sequence[str] = (),
) -> Addressing:
    """Reply: the sender; reply all: the sender and everyone else, minus the mailbox's own
    addresses; forward: nobody yet.

    Where the original names a Reply-To, its addresses stand for the sender (RFC 5322
    §3.6.2), as every mail client answers: a web form's ``noreply@`` mail whose Reply-To is
    the person who filled it in, a list's mail answered to the list."""
    if mode is ReplyMode.FORWARD:
        return Addressing((), ())
    mine = {a.lower() for a in own}
    sender = [p.address for p in original.parties if p.role is ParticipationRole.FROM]
    to_others = [p.address for p in original.parties if p.role is ParticipationRole.TO]
    cc = [p.address for p in original.parties if p.role is ParticipationRole.CC]
    if sender and sender[0].lower() in mine:
        # Replying to one's own sent email answers its recipients, as mail clients do.
        to = to_others
        to_others = []
    else:
        # A Reply-To naming only this mailbox asks nothing of a reply: the sender gets it.
        to = [a for a in reply_to if a.lower() not in mine] or sender
    if mode is ReplyMode.REPLY:
        return Addressing(_distinct(to, mine), ())
    first = _distinct([*to, *to_others], mine)
    return Addressing(first, tuple(a for a in _distinct(cc, mine) if a not in first))


def _distinct(addresses: Iterable[str], excluded: set[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a.lower() for a in addresses if a.lower() not in excluded))


def quote_original(original: EmailActivity, original_html: str, sent_at: datetime | None) -> str:
    """The original under a header block, as Outlook and D365 quote it (HTML, not yet
    sanitized: the caller sanitizes the whole body)."""

    def line(label: str, role: ParticipationRole) -> str:
        names = [p.name or p.address for p in original.parties if p.role is role]
        return f"<b>{label}:</b> {html.escape('; '.join(names))}<br>" if names else ""

    when = sent_at.strftime("%A, %d %B %Y %H:%M") if sent_at else ""
    return (
        "<p></p><hr>"
        "<div>"
        f"{line('From', ParticipationRole.FROM)}"
        f"<b>Sent:</b> {html.escape(when)}<br>"
        f"{line('To', ParticipationRole.TO)}"
        f"{line('Cc', ParticipationRole.CC)}"
        f"<b>Subject:</b> {html.escape(original.subject)}"
        "</div>"
        f"<blockquote>{original_html}</blockquote>"
    )


_TAG = re.compile(r"<[a-zA-Z!/][^>]*>")


def as_html_body(written: str) -> str:
    """A body typed in a plain text box becomes paragraphs; one written as HTML is kept
    (and sanitized later, as every body is)."""
    return written if _TAG.search(written) else text_as_html(written)


def editable_body(html_body: str | None, text_body: str) -> str:
    """What a text box shows of a saved body: the text, when the HTML is only that text
    with its line breaks; else the HTML itself."""
    if not html_body:
        return text_body
    text = text_body.rstrip("\n")
    return text if text_as_html(text) == html_body else html_body


def text_as_html(text: str) -> str:
    """Plain text shown as HTML, line breaks kept."""
    return "<br>".join(html.escape(line) for line in text.splitlines())


_BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "blockquote"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._links: list[str | None] = []

    @override
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style", "title"}:
            self._skip += 1
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "hr":
            self.parts.append("-" * 40 + "\n")
        if tag == "li":
            self.parts.append("* ")
        if tag == "a":
            self._links.append(dict(attrs).get("href"))

    @override
    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "title"} and self._skip:
            self._skip -= 1
        if tag == "a" and self._links:
            href = self._links.pop()
            if href and href.startswith(("http:", "https:")) and href not in self.parts[-1:]:
                self.parts.append(f" <{href}>")
        if tag in {"p", "div", "blockquote", "tr", "h1", "h2", "h3"}:
            self.parts.append("\n")

    @override
    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(body: str) -> str:
    """The text/plain alternative of an HTML body: paragraphs and line breaks kept."""
    parser = _Text()
    parser.feed(body)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text + "\n" if text else ""


def check_subject(subject: str) -> str:
    """A subject on one line, within D365's length."""
    cleaned = " ".join(subject.split())
    if len(cleaned) > MAX_SUBJECT:
        raise ValidationError(f"subject: at most {MAX_SUBJECT} characters")
    return cleaned


def recipients_of(parties: Sequence[ActivityParty], role: ParticipationRole) -> tuple[str, ...]:
    """Each address once: an address several records share is one party per record."""
    return tuple(dict.fromkeys(p.address for p in parties if p.role is role))
