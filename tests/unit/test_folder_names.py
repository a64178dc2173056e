"""IMAP folder names on the wire (modified UTF-7, RFC 3501 §5.1.3) and as people read them."""

from __future__ import annotations

import pytest

from tidings.adapters.imap.folder_names import from_wire, is_wire_form, to_wire


@pytest.mark.parametrize(
    ("read", "wire"),
    [
        ("INBOX", "INBOX"),
        ("Sent Items", "Sent Items"),
        # RFC 3501 §5.1.3's own example.
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        # "&" itself is written "&-".
        ("R&D", "R&-D"),
        ("&", "&-"),
        # Names Exchange, Dovecot and Outlook give in German, French and Spanish.
        ("Entwürfe", "Entw&APw-rfe"),
        ("Éléments envoyés", "&AMk-l&AOk-ments envoy&AOk-s"),
        ("Elementos eliminados/Año 2026", "Elementos eliminados/A&APE-o 2026"),
        # Characters beyond the Basic Multilingual Plane go as UTF-16 surrogate pairs.
        ("Kunden 🚀", "Kunden &2D3egA-"),
    ],
)
def test_a_name_goes_to_the_wire_and_comes_back_the_same(read: str, wire: str) -> None:
    assert to_wire(read) == wire
    assert from_wire(wire) == read
    assert is_wire_form(wire) is (read != wire)


@pytest.mark.parametrize(
    "written",
    [
        "R&D",  # not modified UTF-7: "&" must start a run ended by "-"
        "&AGE-",  # "a" in base64: RFC 3501 lets printable ASCII stand for itself only
        "Entwürfe",  # already read: names beyond ASCII are never wire names
    ],
)
def test_a_name_that_is_no_canonical_wire_name_stays_as_written(written: str) -> None:
    assert from_wire(written) == written
    assert not is_wire_form(written)
