"""Whether text names a mail server: a host name of RFC 1123 labels (international names
through IDNA) or an IP address; and the name DNS and TLS know it by.

An international name is looked up, and its certificate matched, by its A-label (IDNA 2008
with UTS #46 mapping, as browsers and the ``idna`` package do). The standard library's
``idna`` codec, which ``socket`` and ``ssl`` apply to a name given in Unicode, is IDNA 2003:
it maps ``ß`` to ``ss`` and ``ς`` to ``σ``, so ``imap.straße.example`` would reach
``imap.strasse.example``, another domain's server.
"""

from __future__ import annotations

import ipaddress
import re

from tidings.domain.address_forms import ascii_domain
from tidings.domain.errors import MailServerError, ValidationError

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)


def host_problem(host: str) -> str | None:
    """What is wrong with ``host`` as a server's name, or None when it is one."""
    text = host.strip()
    if not text:
        return "enter a host name or an IP address"
    try:
        ipaddress.ip_address(text[1:-1] if text.startswith("[") and text.endswith("]") else text)
    except ValueError:
        pass
    else:
        return None
    name = text.removesuffix(".")
    try:
        ascii_name = ascii_domain(name)
    except ValidationError:
        return "not a valid host name (letters, digits and hyphens between dots)"
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return "not a valid host name (letters, digits and hyphens between dots)"
    if labels[-1].isdigit():
        return "not a valid IP address"
    return None


def dns_name(host: str) -> str:
    """``host`` as a connection names it to DNS and in TLS: an international name as its
    A-label, anything else as it is (without surrounding spaces). A name IDNA 2008 refuses
    (saved before this check, or by hand) is a ``MailServerError`` a person must fix."""
    text = host.strip()
    try:
        return ascii_domain(text)
    except ValidationError as error:
        raise MailServerError(
            f"the server location {text!r} is not a valid host name: {error}", permanent=True
        ) from error
