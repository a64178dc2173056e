"""Whether text names a mail server: a host name of RFC 1123 labels (international names
through IDNA) or an IP address."""

from __future__ import annotations

import ipaddress
import re

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
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return "not a valid host name (letters, digits and hyphens between dots)"
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return "not a valid host name (letters, digits and hyphens between dots)"
    if labels[-1].isdigit():
        return "not a valid IP address"
    return None
