"""A mail server's name: what the console accepts, and what a connection looks up and
matches the certificate against (IDNA 2008 with UTS #46, RFC 5890–5891, never the
standard library's IDNA 2003)."""

from __future__ import annotations

import asyncio

import pytest

from tidings.adapters.imap.connect import connect
from tidings.adapters.mail_servers import smtp_client
from tidings.domain.errors import MailServerError
from tidings.domain.hostnames import dns_name, host_problem
from tidings.domain.server_profile import (
    ConnectionSecurity,
    ServerProfile,
    ServerProfileKind,
)


@pytest.mark.parametrize(
    ("typed", "looked_up"),
    [
        # IDNA 2003 maps these letters away and would reach another domain's server:
        # strasse.example, the final sigma as a medial one, the joiner dropped.
        ("imap.straße.example", "imap.xn--strae-oqa.example"),
        ("mail.ελληνικός.example", "mail.xn--qxaegecap6byf.example"),
        ("mail.ශ්‍රී.example", "mail.xn--10cl1a0b660p.example"),
        # UTS #46 maps what people type: capitals, full-width dots.
        ("IMAP.Bücher.example", "imap.xn--bcher-kva.example"),
        ("imap。bücher。example", "imap.xn--bcher-kva.example"),
        ("  imap.bücher.example ", "imap.xn--bcher-kva.example"),
        # Already ASCII, an A-label or an address: as it is.
        ("IMAP.Northwind.example", "IMAP.Northwind.example"),
        ("imap.xn--bcher-kva.example", "imap.xn--bcher-kva.example"),
        ("192.0.2.7", "192.0.2.7"),
        ("::1", "::1"),
    ],
)
def test_a_connection_names_an_international_server_by_its_idna_2008_a_label(
    typed: str, looked_up: str
) -> None:
    assert host_problem(typed) is None
    assert dns_name(typed) == looked_up


@pytest.mark.parametrize(
    "typed",
    [
        "☃.example",  # a symbol: IDNA 2003 took it, IDNA 2008 does not
        "imap..example",
        "-imap.example",
        "imap_mail.example",
        "a" * 64 + ".example",
    ],
)
def test_a_name_idna_2008_refuses_is_no_server_location(typed: str) -> None:
    assert host_problem(typed) == "not a valid host name (letters, digits and hyphens between dots)"


def _profile(incoming: str, outgoing: str) -> ServerProfile:
    return ServerProfile(
        name="International",
        kind=ServerProfileKind.IMAP_SMTP,
        incoming_host=incoming,
        incoming_port=993,
        outgoing_host=outgoing,
        outgoing_port=587,
        outgoing_security=ConnectionSecurity.STARTTLS,
    )


def test_the_smtp_client_is_given_the_a_label_for_dns_and_the_certificate() -> None:
    client = smtp_client(_profile("imap.straße.example", "smtp.straße.example"))

    assert client.hostname == "smtp.xn--strae-oqa.example"


def test_a_stored_name_idna_2008_refuses_fails_the_connection_for_a_person_to_fix() -> None:
    # Saved before the check was IDNA 2008, or written to the database by hand: never
    # handed to the standard library, which would look up its IDNA 2003 form.
    profile = _profile("☃.example", "smtp.example")

    with pytest.raises(MailServerError) as raised:
        asyncio.run(connect(profile))

    assert raised.value.permanent
    assert "'☃.example' is not a valid host name" in str(raised.value)
