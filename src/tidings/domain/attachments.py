"""Which attachments are kept: the organization's size limit and blocked extensions."""

from __future__ import annotations

from tidings.domain.activity import Attachment
from tidings.domain.message import AttachmentPart
from tidings.domain.settings import EmailConfiguration


def extension_of(filename: str) -> str:
    """The lower-case extension without the dot; trailing dots and spaces don't hide it."""
    name = filename.strip().rstrip(". ").lower()
    return name.rpartition(".")[2] if "." in name else ""


def blocked_reason(part: AttachmentPart, config: EmailConfiguration) -> str | None:
    """Why ``part`` may not be kept, or ``None`` if it may."""
    extension = extension_of(part.filename)
    if extension and extension in config.blocked_extensions:
        return f"the extension .{extension} is blocked by the email configuration settings"
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
