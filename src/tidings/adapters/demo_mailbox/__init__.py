"""The sample mailbox bundled for the demo: raw emails per mailbox and folder.

The emails live next to this module as ``<mailbox address>/<folder>/<NN>-<slug>.eml``: raw
RFC 5322 bytes with CRLF line endings, read through ``importlib.resources`` so they load from
an installed wheel or a zip as well as from a source tree. ``README.md`` says what each one shows.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

_SUFFIX = ".eml"


def load_sample_mailbox() -> list[tuple[str, str, str, bytes]]:
    """(mailbox address, folder, file name, raw bytes) for every sample email.

    The order is stable: sorted by mailbox, folder, name. Only directories named like an
    address count as mailboxes, and only ``.eml`` files as email.
    """
    found: list[tuple[str, str, str, bytes]] = []
    for mailbox in _directories(files(__package__)):
        if "@" not in mailbox.name:
            continue
        for folder in _directories(mailbox):
            for entry in sorted(folder.iterdir(), key=lambda item: item.name):
                if entry.is_file() and entry.name.endswith(_SUFFIX):
                    found.append((mailbox.name, folder.name, entry.name, entry.read_bytes()))
    found.sort(key=lambda sample: sample[:3])
    return found


def _directories(parent: Traversable) -> list[Traversable]:
    """The subdirectories of ``parent``, sorted by name."""
    return sorted((item for item in parent.iterdir() if item.is_dir()), key=lambda d: d.name)
