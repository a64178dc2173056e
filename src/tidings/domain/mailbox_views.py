"""The system views of the Mailboxes list, as an admin picks them in the console."""

from __future__ import annotations

import enum

from tidings.domain.mailbox import ApprovalStatus, Mailbox, TestStatus


class MailboxView(enum.StrEnum):
    """Which mailboxes a list shows."""

    ACTIVE = "active"
    PENDING_APPROVAL = "pending_approval"
    TEST_FAILED = "test_failed"
    DISABLED = "disabled"
    ALL = "all"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    MailboxView.ACTIVE: "Active Mailboxes",
    MailboxView.PENDING_APPROVAL: "Mailboxes Pending Email Address Approval",
    MailboxView.TEST_FAILED: "Mailboxes with Test & Enable Failed",
    MailboxView.DISABLED: "Disabled Mailboxes",
    MailboxView.ALL: "All Mailboxes",
}


def in_view(mailbox: Mailbox, view: MailboxView) -> bool:
    """Whether ``mailbox`` belongs in ``view``; a mailbox can be in several."""
    if view is MailboxView.ACTIVE:
        return mailbox.enabled
    if view is MailboxView.PENDING_APPROVAL:
        return mailbox.approval is ApprovalStatus.PENDING
    if view is MailboxView.TEST_FAILED:
        return TestStatus.FAILURE in (mailbox.incoming_status, mailbox.outgoing_status)
    if view is MailboxView.DISABLED:
        return not mailbox.enabled
    return True
