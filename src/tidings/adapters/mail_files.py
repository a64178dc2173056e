"""Reading email from disk: single files, Maildir folders and mbox files."""

from __future__ import annotations

import mailbox
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tidings.domain.errors import UserError


@dataclass(frozen=True)
class MailFile:
    """One email found on disk; ``read`` loads its bytes when needed."""

    label: str
    read: Callable[[], bytes]


def find_messages(paths: list[Path]) -> list[MailFile]:
    """Every email under ``paths``: a file, a folder of .eml files, a Maildir or an mbox."""
    found: list[MailFile] = []
    for path in paths:
        if not path.exists():
            raise UserError(f"{path} does not exist")
        if path.is_dir() and (path / "cur").is_dir():
            found.extend(_maildir(path))
        elif path.is_dir():
            found.extend(_plain_files(path))
        elif _looks_like_mbox(path):
            found.extend(_mbox(path))
        else:
            found.append(MailFile(str(path), path.read_bytes))
    return found


def _plain_files(folder: Path) -> Iterator[MailFile]:
    # In a plain folder only .eml files are email; notes and indexes beside them are not.
    for path in sorted(p for p in folder.rglob("*.eml") if p.is_file()):
        yield MailFile(str(path), path.read_bytes)


def _maildir(path: Path) -> Iterator[MailFile]:
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.keys()):
        yield MailFile(f"{path}:{key}", _reader(box, key))


def _mbox(path: Path) -> Iterator[MailFile]:
    box = mailbox.mbox(path, factory=None, create=False)
    for number, key in enumerate(box.keys(), 1):
        yield MailFile(f"{path}#{number}", _reader(box, key))


def _reader(box: mailbox.Mailbox[mailbox.Message], key: str) -> Callable[[], bytes]:
    return lambda: box.get_bytes(key)


def _looks_like_mbox(path: Path) -> bool:
    # An mbox starts with a "From " envelope line (RFC 4155); a single .eml may too, but then
    # reading it as an mbox of one message gives the same email.
    with path.open("rb") as handle:
        return handle.read(5) == b"From " and path.suffix.lower() != ".eml"
