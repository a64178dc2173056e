"""Folder-level tracking: folders besides the Inbox whose email is tracked."""

from __future__ import annotations

from dataclasses import dataclass

from tidings.domain.errors import ValidationError
from tidings.domain.records import REGARDING_KINDS, RecordRef

MAX_FOLDER_RULES = 25
INBOX = "INBOX"


@dataclass
class FolderTrackingRule:
    """Track every email in ``folder`` of a mailbox, optionally regarding one record."""

    mailbox_id: int
    folder: str
    regarding: RecordRef | None = None
    id: int | None = None


def is_inbox(folder: str) -> bool:
    """IMAP names the Inbox case-insensitively (RFC 3501 §5.1)."""
    return folder.upper() == INBOX


def check_folder_rules(rules: list[FolderTrackingRule]) -> list[FolderTrackingRule]:
    """At most 25 distinct folders, none of them the Inbox, regarding only valid kinds."""
    if len(rules) > MAX_FOLDER_RULES:
        raise ValidationError(f"at most {MAX_FOLDER_RULES} folders can be tracked per mailbox")
    seen: set[str] = set()
    for rule in rules:
        name = rule.folder.strip()
        if not name:
            raise ValidationError("a folder rule needs a folder name")
        if is_inbox(name):
            raise ValidationError("the Inbox is always tracked; it needs no folder rule")
        if name in seen:
            raise ValidationError(f"folder {name!r} is tracked twice")
        seen.add(name)
        if rule.regarding is not None and rule.regarding.kind not in REGARDING_KINDS:
            raise ValidationError(f"a {rule.regarding.kind} cannot be a regarding record")
    return rules
