"""Finding the original email inside a forward, as Outlook, Gmail and Apple Mail write them."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

from tests.builders import make_email
from tidings.domain.forwarding import forwarded_original
from tidings.domain.message import parse_headers


def _forward(body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "dana@northwind.example"
    msg["To"] = "crm@northwind.example"
    msg["Subject"] = "Fw: hello"
    msg.set_content(body)
    return msg


def test_an_email_that_forwards_nothing_has_no_original() -> None:
    assert forwarded_original(make_email(body="Just a note, no forward.\n")) is None


def test_a_quoted_apple_mail_block_gives_the_original_headers() -> None:
    msg = _forward(
        "Begin forwarded message:\n\n> From: Lena Fischer <lena@tailspin.example>\n"
        "> Subject: Demo\n> Date: 19 November 2026 at 10:30:00 CET\n"
        "> To: dana@northwind.example\n\n> See you Tuesday.\n"
    )
    original = forwarded_original(msg.as_bytes(policy=SMTP))
    assert original is not None
    headers = parse_headers(original)
    assert headers.sender is not None
    assert (headers.sender.address, headers.subject) == ("lena@tailspin.example", "Demo")
    assert b"See you Tuesday." in original


def test_an_outlook_block_with_semicolons_keeps_every_recipient() -> None:
    msg = _forward(
        "-----Original Message-----\nFrom: Maria Garcia <maria@contoso.example>\n"
        "Sent: Thursday, November 19, 2026 10:30 AM\n"
        "To: dana@northwind.example; Tom Becker <tom@contoso.example>\n"
        "Cc: lena@tailspin.example\nSubject: Quote\n\nHello\n"
    )
    original = forwarded_original(msg.as_bytes(policy=SMTP))
    assert original is not None
    headers = parse_headers(original)
    assert [a.address for a in headers.to] == ["dana@northwind.example", "tom@contoso.example"]
    assert [a.address for a in headers.cc] == ["lena@tailspin.example"]
    assert headers.date is not None and headers.date.day == 19


def test_an_attached_original_encoded_in_base64_is_still_found() -> None:
    msg = _forward("See attached.")
    inner = make_email(message_id="<encoded@contoso.example>")
    msg.add_attachment(inner, maintype="message", subtype="rfc822", cte="base64")
    original = forwarded_original(msg.as_bytes(policy=SMTP))
    assert original is not None
    assert parse_headers(original).message_id == "<encoded@contoso.example>"
