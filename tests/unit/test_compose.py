"""What a reply takes from the email it answers, the text version of an HTML body, who may
send from a mailbox, and when a failed email may be sent again."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from tidings.domain.activity import (
    ActivityParty,
    ActivityStatus,
    Direction,
    EmailActivity,
    ParticipationRole,
)
from tidings.domain.compose import (
    ReplyMode,
    editable_body,
    html_to_text,
    may_send_from,
    references_of,
    reply_addressing,
    reply_subject,
    why_cannot_send,
)
from tidings.domain.mailbox import Mailbox, TestStatus
from tidings.domain.outgoing import (
    INTERRUPTED_AFTER_HANDOVER,
    OutboxPhase,
    OutgoingAttachment,
    OutgoingEmail,
    compose,
    may_retry,
)
from tidings.domain.people import Caller, Privilege, User
from tidings.domain.records import RecordKind, RecordRef

ME = "sam@northwind.example"


def _original(*parties: tuple[ParticipationRole, str]) -> EmailActivity:
    return EmailActivity(
        owner=RecordRef(RecordKind.USER, 1),
        mailbox_id=1,
        subject="RE: Quote",
        direction=Direction.INCOMING,
        status=ActivityStatus.RECEIVED,
        message_id="<b@x>",
        received_at=None,
        in_reply_to="<a@x>",
        parties=[ActivityParty(role, address) for role, address in parties],
    )


@pytest.mark.parametrize(
    ("subject", "mode", "expected"),
    [
        ("Quote", ReplyMode.REPLY, "Re: Quote"),
        ("RE: Quote", ReplyMode.REPLY_ALL, "RE: Quote"),
        ("Quote", ReplyMode.FORWARD, "Fw: Quote"),
        ("Re: Quote", ReplyMode.FORWARD, "Fw: Re: Quote"),
    ],
)
def test_a_reply_subject_gets_one_prefix(subject: str, mode: ReplyMode, expected: str) -> None:
    assert reply_subject(subject, mode) == expected


def test_reply_all_answers_everyone_but_the_mailbox_itself() -> None:
    original = _original(
        (ParticipationRole.FROM, "maria@contoso.example"),
        (ParticipationRole.TO, ME),
        (ParticipationRole.TO, "tom@contoso.example"),
        (ParticipationRole.CC, "SAM@northwind.example"),
        (ParticipationRole.CC, "lena@tailspin.example"),
    )
    everyone = reply_addressing(original, ReplyMode.REPLY_ALL, [ME])
    assert everyone.to == ("maria@contoso.example", "tom@contoso.example")
    assert everyone.cc == ("lena@tailspin.example",)
    sender_only = reply_addressing(original, ReplyMode.REPLY, [ME])
    assert (sender_only.to, sender_only.cc) == (("maria@contoso.example",), ())


def test_a_reply_to_ones_own_email_answers_its_recipients() -> None:
    original = _original((ParticipationRole.FROM, ME), (ParticipationRole.TO, "maria@x.example"))
    assert reply_addressing(original, ReplyMode.REPLY, [ME]).to == ("maria@x.example",)


def test_reply_to_stands_for_the_sender_as_rfc_5322_asks() -> None:
    # A web form's mail: sent by noreply@, answered to the person who filled it in.
    original = _original(
        (ParticipationRole.FROM, "noreply@forms.example"),
        (ParticipationRole.TO, ME),
        (ParticipationRole.CC, "tom@contoso.example"),
    )
    reply_to = ["lena@tailspin.example", "team@tailspin.example"]
    reply = reply_addressing(original, ReplyMode.REPLY, [ME], reply_to)
    assert (reply.to, reply.cc) == (("lena@tailspin.example", "team@tailspin.example"), ())
    everyone = reply_addressing(original, ReplyMode.REPLY_ALL, [ME], reply_to)
    assert everyone.to == ("lena@tailspin.example", "team@tailspin.example")
    assert everyone.cc == ("tom@contoso.example",)
    # A Reply-To naming only the mailbox itself asks nothing: the sender is answered.
    assert reply_addressing(original, ReplyMode.REPLY, [ME], [ME]).to == ("noreply@forms.example",)
    # One's own sent email is answered to its recipients, whatever Reply-To it had.
    own = _original((ParticipationRole.FROM, ME), (ParticipationRole.TO, "maria@x.example"))
    assert reply_addressing(own, ReplyMode.REPLY, [ME], ["x@y.example"]).to == ("maria@x.example",)


def test_references_are_the_parents_then_the_parent() -> None:
    original = _original()
    assert references_of(original, ("<0@x>", "<a@x>")) == ("<0@x>", "<a@x>", "<b@x>")
    assert references_of(original, ()) == ("<a@x>", "<b@x>")


def test_the_text_version_keeps_paragraphs_line_breaks_and_links() -> None:
    html = (
        "<p>Hello <b>Maria</b>,</p><p>see <a href='https://x.example/q'>the quote</a><br>"
        "Sam</p><style>p{}</style><ul><li>one</li><li>two</li></ul>"
    )
    assert html_to_text(html) == (
        "Hello Maria,\n\nsee the quote <https://x.example/q>\nSam\n\n* one\n* two\n"
    )


def test_a_plain_text_body_is_edited_as_text_and_rich_text_as_html() -> None:
    assert editable_body("Hello<br><br>Sam", "Hello\n\nSam\n") == "Hello\n\nSam"
    assert editable_body("<p>Hello</p>", "Hello\n") == "<p>Hello</p>"


def test_bcc_recipients_get_the_email_but_no_header_names_them() -> None:
    email = OutgoingEmail(
        sender_name="Sam",
        sender_address=ME,
        to=("maria@contoso.example",),
        cc=(),
        bcc=("boss@northwind.example",),
        subject="Quote",
        body="Hello\n",
        html_body="<p>Hello</p>",
        message_id="<m@northwind.example>",
        date=datetime(2026, 12, 1, tzinfo=UTC),
        in_reply_to="<b@x>",
        references=("<a@x>", "<b@x>"),
        attachments=(OutgoingAttachment("q.pdf", "application/pdf", b"%PDF"),),
    )
    raw = compose(email)
    msg = message_from_bytes(raw, policy=policy.default)
    assert email.recipients == ("maria@contoso.example", "boss@northwind.example")
    assert b"boss@" not in raw and msg["Bcc"] is None
    assert (msg["In-Reply-To"], msg["References"]) == ("<b@x>", "<a@x> <b@x>")
    assert msg.get_content_type() == "multipart/mixed"
    [alternative, attachment] = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert attachment.get_filename() == "q.pdf"


def _mailbox(owner: RecordRef) -> Mailbox:
    mailbox = Mailbox(ME, owner, profile_id=1)
    mailbox.approve_email()
    mailbox.record_test(incoming=TestStatus.SUCCESS, outgoing=TestStatus.SUCCESS, alerts=[])
    return mailbox


def test_only_the_owner_or_a_queue_sender_may_send_from_a_mailbox() -> None:
    sam = User("Sam", ME, id=1)
    other = User("Rita", "rita@northwind.example", id=2)
    mine = _mailbox(RecordRef(RecordKind.USER, 1))
    queue = _mailbox(RecordRef(RecordKind.QUEUE, 1))
    assert may_send_from(Caller(sam, frozenset()), mine)
    assert not may_send_from(Caller(other, frozenset(Privilege)), mine)
    assert not may_send_from(Caller(sam, frozenset({Privilege.TRACK_EMAIL})), queue)
    assert may_send_from(Caller(sam, frozenset({Privilege.SEND_AS_QUEUE})), queue)
    assert why_cannot_send(mine) is None


def test_an_email_that_may_have_been_delivered_is_retried_only_when_confirmed() -> None:
    assert may_retry(OutboxPhase.FAILED, "550 no such user", confirmed=False) is None
    assert may_retry(OutboxPhase.FAILED, INTERRUPTED_AFTER_HANDOVER, confirmed=False)
    assert may_retry(OutboxPhase.FAILED, INTERRUPTED_AFTER_HANDOVER, confirmed=True) is None
    assert may_retry(OutboxPhase.SENT, None, confirmed=True) == (
        "only a failed email can be retried; this one is sent"
    )
