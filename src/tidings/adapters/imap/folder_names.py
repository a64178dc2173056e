"""Folder names between Tidings and an IMAP server.

Tidings names a folder as people read it ("Entwürfe", "Éléments envoyés", "R&D"), as the
mail APIs do. IMAP writes names in modified UTF-7 (RFC 3501 §5.1.3): "Entw&APw-rfe",
"&AMk-l&AOk-ments envoy&AOk-s", "R&-D". Names are turned into that form for SELECT and
APPEND, and back from it as LIST reads them. IMAPClient's codec does the work; it is loaded
only for a name that needs it, as most folders are plain ASCII without "&" and read the
same either way.
"""

from __future__ import annotations


def _plain(name: str) -> bool:
    return name.isascii() and "&" not in name


def to_wire(name: str) -> str:
    """``name`` as an IMAP server reads it (modified UTF-7)."""
    if _plain(name):
        return name
    from imapclient import imap_utf7

    written: bytes = imap_utf7.encode(name)
    return written.decode("ascii")


def from_wire(name: str) -> str:
    """A name an IMAP server wrote, as people read it; a name that is not canonical
    modified UTF-7 (which no server writes) stays as written."""
    if _plain(name) or not name.isascii():
        return name
    from imapclient import imap_utf7

    try:
        read: str = imap_utf7.decode(name.encode("ascii"))
    except ValueError:
        return name
    return read if to_wire(read) == name else name


def is_wire_form(name: str) -> bool:
    """Whether ``name`` is written in modified UTF-7 and reads otherwise (an older
    version of Tidings kept IMAP folder names so)."""
    return from_wire(name) != name
