"""Which attachments are kept: the organization's size limit and blocked extensions."""

from __future__ import annotations

from tidings.domain.activity import Attachment
from tidings.domain.filenames import extension_of as extension_of
from tidings.domain.filenames import extensions_of
from tidings.domain.message import AttachmentPart
from tidings.domain.settings import EmailConfiguration

#: The name of the entry that notes the parts of an email Tidings did not read.
UNREAD_PARTS_NAME = "(parts not read)"


def unread_parts_entry(note: str) -> Attachment:
    """An attachment entry, without content, saying what of the email was not read."""
    return Attachment(UNREAD_PARTS_NAME, "multipart/mixed", 0, blocked_reason=note)


def blocked_reason(part: AttachmentPart, config: EmailConfiguration) -> str | None:
    """Why ``part`` may not be kept, or ``None`` if it may.

    The extension is judged on the name as Windows would save it (``filenames``): no other
    spelling of a blocked extension gets through.
    """
    spellings = extensions_of(part.filename) | extensions_of(part.name_as_written)
    blocked = sorted(e for e in spellings if e in config.blocked_extensions)
    if blocked:
        return f"the extension .{blocked[0]} is blocked by the email configuration settings"
    limit = config.max_attachment_kb * 1024
    if len(part.content) > limit:
        return (
            f"{len(part.content)} bytes exceeds the maximum attachment size "
            f"of {config.max_attachment_kb} KB"
        )
    return None


def admit_attachment(part: AttachmentPart, config: EmailConfiguration) -> Attachment:
    """The attachment as recorded: with its content, or blocked with the reason."""
    reason = blocked_reason(part, config)
    return Attachment(
        filename=part.filename,
        content_type=part.content_type,
        size=len(part.content),
        blocked_reason=reason,
        content_id=part.content_id,
        content=None if reason else part.content,
    )


def download_refusal(attachment: Attachment, blocked_extensions: frozenset[str]) -> str | None:
    """Why ``attachment`` may not be downloaded, or ``None`` if it may.

    Blocked when it was kept, or of an extension blocked since: the current settings are
    what an admin expects to hold, so a newly blocked kind is not served either.
    """
    if attachment.blocked_reason:
        return attachment.blocked_reason
    blocked = sorted(e for e in extensions_of(attachment.filename) if e in blocked_extensions)
    if blocked:
        return f"the extension .{blocked[0]} is blocked by the email configuration settings"
    return None
