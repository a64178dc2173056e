"""Attachment file names: decoded, made safe to store and offer, and seen through tricks.

A name is read from ``Content-Disposition: filename`` (RFC 2231, continuations and charset
decoded by the header registry) or ``Content-Type: name``, with RFC 2047 encoded words
decoded in either, as clients decode them. Before it is stored or offered for download, its
path is removed (``../``, ``C:\\``, ``/``), and so are control characters and the Unicode
controls that reorder or hide text (``invoice\\u202Efdp.exe`` shows as ``invoiceexe.pdf``).

Whether a name is of a blocked kind is decided on what Windows would make of it: the name
in Unicode compatibility form (full-width letters are letters), case folded, without NUL
bytes, zero-width characters, trailing dots and spaces, and without an NTFS alternate data
stream (``report.exe::$DATA`` and ``report.exe:x`` write ``report.exe``).
"""

from __future__ import annotations

import re
import unicodedata

from tidings.domain.header_text import decode_words

#: Bidirectional and zero-width controls: they change how a name reads, not what it is.
_INVISIBLE = re.compile(
    "[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]"
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_DEFAULT_STREAM = re.compile(r"(?i)(::\$data)+$")
#: A stored name is at most this long (the attachments table's name column).
MAX_FILENAME = 200


def safe_filename(name: str) -> str:
    """``name`` as it is stored and offered: decoded, without path, controls or tricks;
    ``""`` if nothing is left of it."""
    if "=?" in name:
        name = decode_words(name)
    name = _INVISIBLE.sub("", _CONTROL.sub("", unicodedata.normalize("NFC", name)))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _DRIVE.sub("", name)
    name = _DEFAULT_STREAM.sub("", name).replace(":", "_")
    name = name.strip().rstrip(". ").strip()
    if name in ("", ".", ".."):
        return ""
    if len(name) > MAX_FILENAME:
        _, dot, extension = name.rpartition(".")
        keep = extension if dot and len(extension) < 20 else ""
        name = (
            name[: MAX_FILENAME - len(keep) - 1].rstrip() + "." + keep
            if keep
            else name[:MAX_FILENAME]
        )
    return name


def extensions_of(filename: str) -> frozenset[str]:
    """Every extension Windows could take ``filename`` to have, lower case, without dots.

    Each side of an alternate data stream counts (``a.txt:b.exe`` is a text file holding
    an executable stream, ``a.exe:x`` an executable); ``""`` stands for no extension.
    """
    pieces = _windows_name(filename).split(":")
    return frozenset(_extension(piece) for piece in pieces if piece.strip(". "))


def extension_of(filename: str) -> str:
    """The extension of the file Windows saves ``filename`` as (before any data stream)."""
    return _extension(_windows_name(filename).split(":", 1)[0])


def _windows_name(filename: str) -> str:
    name = unicodedata.normalize("NFKC", filename)
    name = _INVISIBLE.sub("", _CONTROL.sub("", name)).casefold()
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _DRIVE.sub("", name)


def _extension(name: str) -> str:
    name = name.strip().rstrip(". ").strip()
    return name.rpartition(".")[2] if "." in name else ""
