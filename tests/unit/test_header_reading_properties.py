"""Generated headers with bare CRs, folded encoded words and comments: Tidings reads exactly
the parties, names and subject that an RFC 5322/2047 reading gives, and no other.

Each case is built from its meaning (mailboxes with names, comments, a subject) and then
written out as real senders write it: names as atoms, quoted strings or encoded words split
over folded lines, comments after the address, and bare CRs followed by header lines
("\\rBcc: eve@attacker.example") inside names, comments and the subject, where they are data.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.domain.message import Address, parse_email, parse_headers, split_header_block

INJECTIONS = [
    "\rBcc: eve@attacker.example",
    "\rCc: eve@attacker.example",
    "\rTo: eve@attacker.example",
]
WORD = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789éüßñ中文",
    min_size=1,
    max_size=8,
)
SPECIALS = st.sampled_from([",", ".", "(", ")", "<", ">", "@", ":", ";", '"', "\\"])


@dataclass(frozen=True)
class Mailbox:
    name: str
    local: str
    domain: str
    style: str  # "atom", "quoted", "encoded", "bare"
    comment: str
    injected_name: str
    injected_comment: str

    @property
    def address(self) -> str:
        return f"{self.local}@{self.domain}"

    def expected(self) -> Address:
        name = self.name
        if self.style == "quoted":
            name = (name + self.injected_name.replace("\r", " ")).strip()
        if self.style == "bare":
            name = (self.comment + self.injected_comment.replace("\r", " ")).strip()
            name = " ".join(name.split())
        return Address(name, self.address.lower())

    def written(self, fold: bool) -> str:
        address = f"<{self.address}>"
        comment = f" ({self.comment}{self.injected_comment})" if self.comment else ""
        if self.style == "bare":
            return self.address + comment
        if not self.name and not self.injected_name:
            return address + comment
        if self.style == "atom":
            phrase = self.name
        elif self.style == "quoted":
            escaped = (self.name + self.injected_name).replace("\\", "\\\\").replace('"', '\\"')
            phrase = f'"{escaped}"'
        else:
            phrase = _encoded_words(self.name, fold)
        return f"{phrase}{' ' if not fold else chr(13) + chr(10) + ' '}{address}{comment}"


def _encoded_words(name: str, fold: bool) -> str:
    """``name`` as UTF-8 encoded words of a few bytes each (a character may be split)."""
    data = name.encode("utf-8")
    words = []
    for start in range(0, len(data), 5):
        chunk = data[start : start + 5]
        if start % 2:
            words.append(f"=?utf-8?B?{base64.b64encode(chunk).decode()}?=")
        else:
            q = "".join(chr(b) if chr(b).isalnum() and b < 128 else f"={b:02X}" for b in chunk)
            words.append(f"=?UTF-8?Q?{q}?=")
    return ("\r\n " if fold else " ").join(words)


@st.composite
def mailboxes(draw: st.DrawFn) -> Mailbox:
    style = draw(st.sampled_from(["atom", "quoted", "encoded", "bare"]))
    words = draw(st.lists(WORD, max_size=3))
    if style == "quoted":
        words += draw(st.lists(SPECIALS, max_size=2))
    name = " ".join(words) if style != "atom" else " ".join(w for w in words if w.isascii())
    comment_words = draw(st.lists(WORD.filter(str.isascii), max_size=2))
    comment = " ".join(comment_words)
    return Mailbox(
        name=name,
        local=draw(st.from_regex(r"[a-z][a-z0-9._-]{0,8}[a-z0-9]", fullmatch=True)),
        domain=draw(st.sampled_from(["contoso.example", "northwind.example", "x.example.org"])),
        style=style,
        comment=comment,
        injected_name=draw(st.sampled_from(["", *INJECTIONS])) if style == "quoted" else "",
        injected_comment=draw(st.sampled_from(["", *INJECTIONS])) if comment else "",
    )


def _subject_and_expected(words: list[str], injection: str, fold: bool) -> tuple[str, str]:
    text = " ".join(words)
    written = text.replace(" ", "\r\n ", 1) if fold and " " in text else text
    return written + injection, (text + injection.replace("\r", " ")).strip()


@settings(max_examples=200, deadline=None)
@given(
    to=st.lists(mailboxes(), min_size=1, max_size=4),
    cc=st.lists(mailboxes(), max_size=3),
    subject_words=st.lists(WORD, min_size=1, max_size=5),
    subject_injection=st.sampled_from(["", *INJECTIONS]),
    folds=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_generated_headers_give_exactly_the_parties_the_rfc_reading_gives(
    to: list[Mailbox],
    cc: list[Mailbox],
    subject_words: list[str],
    subject_injection: str,
    folds: list[bool],
) -> None:
    subject, expected_subject = _subject_and_expected(subject_words, subject_injection, folds[0])
    separator = ",\r\n " if folds[1] else ", "
    raw = (
        "From: Maria Garcia <maria@contoso.example>\r\n"
        f"To: {separator.join(m.written(folds[2 + i % 6]) for i, m in enumerate(to))}\r\n"
        + (f"Cc: {separator.join(m.written(folds[3]) for m in cc)}\r\n" if cc else "")
        + f"Subject: {subject}\r\n"
        "Message-ID: <generated@contoso.example> (a comment)\r\n"
        "\r\n"
        "Body.\r\n"
    ).encode("utf-8")

    headers = parse_headers(raw)

    assert headers.to == tuple(m.expected() for m in to)
    assert headers.cc == tuple(m.expected() for m in cc)
    assert headers.bcc == ()
    assert headers.sender == Address("Maria Garcia", "maria@contoso.example")
    assert not any(a.endswith("@attacker.example") for a in headers.addresses())
    assert headers.subject == expected_subject
    assert headers.message_id == "<generated@contoso.example>"
    assert parse_headers(split_header_block(raw)) == headers
    assert parse_email(raw).text_body == "Body.\r\n".replace("\r\n", "\n")
