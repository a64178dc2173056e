"""The forms of an email address: the one Tidings stores and compares, and the one a sent
message's headers and SMTP envelope carry.

Addresses are kept as people write them, international ones included (RFC 6530):
``maria@bücher.example``, ``jürgen@müller.example``, ``用户@例子.广告``. On the way out:

- A domain in Unicode goes as its ASCII form, the A-label (``xn--bcher-kva.example``,
  IDNA 2008 with UTS #46 mapping, RFC 5890–5891), which every server routes and every client
  shows. IDNA 2003, the standard library's ``idna`` codec, is not used: it maps ``ß`` to
  ``ss`` and would send ``straße.de``'s mail to ``strasse.de``, another domain.
- A local part in Unicode has no ASCII form at all. Such a message needs UTF-8 headers
  (RFC 6532) and a server that offers SMTPUTF8 (RFC 6531); a server that does not refuses
  it as a permanent failure that names the address.

Stored and compared, an international domain is in Unicode (its U-label form) however it
was written: an email from ``maria@xn--bcher-kva.example`` (as every ASCII-only message
must write it) is from the contact whose address is ``maria@bücher.example``.

The standard library's email package would write either as encoded words, which RFC 2047
§5 forbids inside an address: the recipient's client shows ``=?utf-8?q?…?=`` and a reply
goes nowhere.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from tidings.domain.errors import ValidationError


@dataclass(frozen=True)
class WireAddress:
    """An address as it is sent."""

    text: str
    #: Only with UTF-8 headers and SMTPUTF8: the local part is not ASCII.
    needs_utf8: bool


def on_the_wire(address: str) -> WireAddress:
    """``address`` as a sent message writes it; ``ValidationError`` if its domain is not a
    valid internationalized domain name."""
    local, at, domain = address.rpartition("@")
    if not at:
        return WireAddress(address, not address.isascii())
    wire = f"{local}@{ascii_domain(domain)}"
    if local.isascii():
        return WireAddress(wire, needs_utf8=False)
    # The same letters may be one code point or a letter and a combining mark: RFC 6532 §3.1
    # asks for the composed form (NFC), which the receiving server is likeliest to know.
    return WireAddress(unicodedata.normalize("NFC", wire), needs_utf8=True)


def ascii_domain(domain: str) -> str:
    """``domain`` with every Unicode label as its A-label; an ASCII domain (or an address
    literal such as ``[192.0.2.1]``) as it is."""
    if domain.isascii():
        return domain
    import idna  # here: a megabyte and more, for the few addresses that need it

    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise ValidationError(
            f"{domain!r} is not a valid internationalized domain name: {error}"
        ) from error


def unicode_domain(domain: str) -> str:
    """``domain`` with every A-label as its Unicode label, mapped as UTS #46 maps (lower
    case, composed); as it is where it is no valid IDN, since only sending needs one."""
    import idna  # here: see ascii_domain

    try:
        return idna.decode(domain, uts46=True)
    except (idna.IDNAError, UnicodeError):
        return unicodedata.normalize("NFC", domain)


def unsendable(address: str) -> str | None:
    """Why no message can be sent to ``address``, or None when one can."""
    try:
        on_the_wire(address)
    except ValidationError as error:
        return str(error)
    return None
