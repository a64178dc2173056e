"""An international address is one address however it is written (RFC 5890's A-label and
U-label, any case, composed or not): email reaches the contact saved with the other form."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage

import pytest
from alembic import command
from sqlalchemy import text

from tests.builders import Org, make_email
from tidings.adapters.storage.database import make_engine
from tidings.adapters.storage.migrate import alembic_config, upgrade
from tidings.domain.activity import ParticipationRole
from tidings.domain.records import Contact, RecordKind, RecordRef
from tidings.domain.tracking import Outcome


def _from(address: str) -> bytes:
    """An email from ``address`` as its sender's client writes it: in an ASCII message
    where it can be, else with UTF-8 headers (RFC 6532)."""
    if address.isascii():
        return make_email(sender=f"Maria Mueller <{address}>", message_id="<i@x>")
    return (
        f"From: Maria Müller <{address}>\r\n"
        "To: dana@northwind.example\r\n"
        "Subject: Angebot\r\n"
        "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
        "Message-ID: <i@x>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Hallo Dana,\r\n"
    ).encode()


def _contact(org: Org, name: str, address: str) -> RecordRef:
    with org.tidings.uow() as uow:
        contact_id = uow.directory.add_contact(Contact(name, (address,)))
        uow.commit()
    return RecordRef(RecordKind.CONTACT, contact_id)


@pytest.mark.parametrize(
    ("saved", "written"),
    [
        # An ASCII-only message must write the domain as its A-label.
        ("maria@bücher.example", "maria@xn--bcher-kva.example"),
        ("maria@bücher.example", "Maria@XN--BCHER-KVA.example"),
        # A contact imported in the A-label form; the email written in Unicode (RFC 6532).
        ("info@xn--strae-oqa.de", "info@straße.de"),
        ("ivan@почта.рф", "ivan@ПОЧТА.РФ"),
        ("ivan@почта.рф", "ivan@xn--80a1acny.xn--p1ai"),
        # The same letters, composed or as a letter and a combining mark.
        ("jürgen@müller.example", "ju\u0308rgen@mu\u0308ller.example"),
    ],
)
def test_email_from_either_form_of_an_address_is_from_the_contact(
    org: Org, saved: str, written: str
) -> None:
    contact = _contact(org, "Maria Müller", saved)
    result = org.deliver(_from(written))
    assert result.outcome is Outcome.TRACKED
    activity = org.tidings.queries.activity(result.activity_id).activity
    [sender] = [p for p in activity.parties if p.role is ParticipationRole.FROM]
    assert sender.party == contact
    # Shown and searched in one form: the domain in Unicode.
    assert "xn--" not in sender.address and sender.address.split("@")[1].islower()
    with org.tidings.uow() as uow:
        assert uow.directory.records_by_address([written]) == {sender.address: [contact]}


def test_the_migration_brings_stored_addresses_to_the_unicode_form(database_url: str) -> None:
    # Back to the revision before, with addresses stored as they came; then upgraded.
    command.downgrade(alembic_config(database_url), "0023")
    engine = make_engine(database_url)
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO contacts (id, full_name, emailaddress1, emailaddress2) VALUES "
                "(1, 'Maria', 'maria@xn--bcher-kva.example', 'maria@bu\u0308cher.example'), "
                "(2, 'Tom', 'tom@contoso.example', NULL)"
            )
        )
        db.execute(
            text(
                "INSERT INTO record_addresses (address, record_kind, record_id) VALUES "
                "('maria@xn--bcher-kva.example', 'contact', 1), "
                "('maria@bücher.example', 'contact', 1), "
                "('ivan@xn--80a1acny.xn--p1ai', 'contact', 1), "
                "('tom@contoso.example', 'contact', 2)"
            )
        )
        for ident, email in (
            (1, "sam@xn--bcher-kva.example"),
            (2, "ops@xn--bcher-kva.example"),
            (3, "ops@bücher.example"),
        ):
            db.execute(
                text(
                    "INSERT INTO users (id, full_name, email, is_active, track_incoming, "
                    "create_contacts_for_unknown_senders) VALUES (:i, 'X', :e, :yes, 'x', :no)"
                ),
                {"i": ident, "e": email, "yes": True, "no": False},
            )
    upgrade(database_url)
    with engine.connect() as db:
        contacts = db.execute(text("SELECT emailaddress1, emailaddress2 FROM contacts ORDER BY id"))
        assert contacts.all() == [
            ("maria@bücher.example", "maria@bücher.example"),
            ("tom@contoso.example", None),
        ]
        index = db.execute(text("SELECT address, record_id FROM record_addresses"))
        assert sorted(index.all()) == [
            ("ivan@почта.рф", 1),
            ("maria@bücher.example", 1),
            ("tom@contoso.example", 2),
        ]
        users = db.execute(text("SELECT id, email FROM users ORDER BY id")).all()
    engine.dispose()
    # Two users may not share an address: the second keeps the form it had.
    assert users == [
        (1, "sam@bücher.example"),
        (2, "ops@xn--bcher-kva.example"),
        (3, "ops@bücher.example"),
    ]


def _as_pythons_email_package_writes(sender: str) -> bytes:
    """An email from ``sender`` as a script built on Python's email package sends it: with
    the SMTP policy, its address parts become encoded words (RFC 2047 §5 forbids them)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "dana@northwind.example"
    message["Subject"] = "Bestellung"
    message["Message-ID"] = "<py@x>"
    message.set_content("Hallo\n")
    return message.as_bytes(policy=policy.SMTP)


@pytest.mark.parametrize(
    ("saved", "sender"),
    [
        ("maria@bücher.example", "Maria <maria@bücher.example>"),
        ("info@straße.de", "info@straße.de"),
        ("jürgen@müller.example", "Jürgen <jürgen@müller.example>"),
    ],
)
def test_an_address_written_as_encoded_words_is_read_as_meant(
    org: Org, saved: str, sender: str
) -> None:
    raw = _as_pythons_email_package_writes(sender)
    from_line = next(line for line in raw.split(b"\r\n") if line.startswith(b"From: "))
    assert b"=?" in from_line.rsplit(b"<", 1)[-1]  # the address itself is encoded
    contact = _contact(org, "Maria Müller", saved)
    result = org.deliver(raw)
    assert result.outcome is Outcome.TRACKED
    activity = org.tidings.queries.activity(result.activity_id).activity
    [written] = [p for p in activity.parties if p.role is ParticipationRole.FROM]
    assert (written.address, written.party) == (saved, contact)
