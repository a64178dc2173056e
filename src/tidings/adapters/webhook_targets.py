"""Where a webhook may be posted: hosts on the public internet, unless the admin allows more.

A webhook URL is chosen by whoever holds WRITE_SETTINGS, but the POST comes from the Tidings
server, from inside the network it runs in. Left open, a subscription could reach what only
that server can reach (a cloud metadata service on 169.254.169.254, a database admin page on
10.0.0.5, Tidings itself on 127.0.0.1) and the delivery log would report what answered.
So every address the host stands for must be global: not loopback, link-local, private,
unique-local, shared (CGNAT), multicast, unspecified, reserved or documentation. IPv4 written
as one number, in octal or in hex (``2130706433``, ``0177.1``, ``0x7f.0.0.1``) is read as the
C library reads it; an IPv4 address inside IPv6 (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64)
is judged by the IPv4 address. Host names are resolved when subscribing and again before
every delivery, so a name that later points inward is caught then.

A delivery connects to an address that was judged, never to the name: resolved again by the
HTTP client, a name with a short time to live could answer a public address to the check
and an inward one to the connection (DNS rebinding). The request still names the host, in
its ``Host`` header and, over TLS, as the server name the certificate must match. A name is
looked up by its IDNA 2008 A-label, as the HTTP client would write it.

``TIDINGS_WEBHOOK_ALLOW_PRIVATE=true`` lifts the rule, for receivers on the same network.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from tidings.domain.address_forms import ascii_domain
from tidings.domain.errors import UnsafeTargetError, ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
ALLOW_SETTING = "TIDINGS_WEBHOOK_ALLOW_PRIVATE"


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, through the system's resolver."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as an IP literal stands for, in any spelling."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # inet_aton reads the legacy forms: one number, octal and hex parts, "127.1".
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def why_not_global(address: IPAddress) -> str | None:
    """What kind of non-global address ``address`` is, or None if it is global."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return why_not_global(embedded)
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "non-global"),
    )
    return next((kind for refused, kind in checks if refused), None)


@dataclass(frozen=True)
class Destination:
    """Where one post goes."""

    #: The URLs to try in turn, each with the host replaced by an address that was judged
    #: (only the URL as given where no address is judged: private receivers allowed).
    urls: tuple[str, ...]
    #: The ``Host`` header the receiver expects, where the URL names an address instead.
    host_header: str | None = None
    #: The name the receiver's certificate must match, where the URL names an address.
    server_name: str | None = None


class WebhookTargetPolicy:
    """Refuses webhook URLs whose host is, or resolves to, a non-global address."""

    def __init__(self, *, allow_private: bool = False, resolver: Resolver = resolve) -> None:
        self.allow_private = allow_private
        self._resolve = resolver

    def check(self, url: str) -> None:
        """Raise ``UnsafeTargetError`` saying why, if ``url`` may not be posted to."""
        self.destination(url)

    def destination(self, url: str) -> Destination:
        """Where a post to ``url`` connects: to addresses judged just now, each of them
        global; ``UnsafeTargetError`` saying why if any is not."""
        if self.allow_private:
            return Destination((url,))
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        literal = literal_address(host.split("%", 1)[0])
        if literal is not None:
            addresses = [literal]
            name = None
        else:
            try:
                name = ascii_domain(host)
                addresses = list(
                    dict.fromkeys(
                        ipaddress.ip_address(a.split("%", 1)[0]) for a in self._resolve(name, port)
                    )
                )
            except (OSError, UnicodeError, ValueError, ValidationError) as error:
                raise UnsafeTargetError(
                    f"the webhook host {host!r} cannot be resolved ({error})"
                ) from error
        for address in addresses:
            kind = why_not_global(address)
            if kind is not None:
                what = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
                detail = (
                    f"{address} is {what}"
                    if literal is not None
                    else f"{host!r} resolves to {address}, {what}"
                )
                raise UnsafeTargetError(
                    f"webhook URLs may only point at public internet addresses: {detail} "
                    f"(set {ALLOW_SETTING}=true to allow receivers on private networks)"
                )
        if not addresses:
            raise UnsafeTargetError(f"the webhook host {host!r} resolves to no address")
        userinfo = parts.netloc.rpartition("@")[0]
        explicit_port = f":{parts.port}" if parts.port is not None else ""
        urls = tuple(
            urlunsplit(
                parts._replace(
                    netloc=(userinfo + "@" if userinfo else "")
                    + (f"[{address}]" if address.version == 6 else str(address))
                    + explicit_port
                )
            )
            for address in addresses
        )
        if name is None:  # an address already: the receiver knows itself by it
            return Destination(urls)
        return Destination(
            urls,
            host_header=name + explicit_port,
            server_name=name if parts.scheme == "https" else None,
        )
