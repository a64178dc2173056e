"""A user who writes email: a tracking user whose mailbox sends through a test SMTP server
and keeps its Sent copies in the test Dovecot."""

from __future__ import annotations

import uuid

from tests.builders import Org, dovecot_profile
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tidings.domain.people import TrackIncoming

#: Dovecot knows sam@ with the password "sam-pass"; this is Sam's Tidings sign-in.
SAM = ("sam@northwind.example", "sam-console-pass")


def add_sending_user(org: Org, smtp: SmtpServer, dovecot: DovecotServer) -> int:
    """Sam, with an approved and enabled mailbox; returns the mailbox id."""
    user_id = org.tidings.setup.add_user("Sam Sender", SAM[0], ["tracking"], SAM[1])
    with org.tidings.uow() as uow:
        user = uow.directory.get_user(user_id)
        assert user is not None
        user.options.track_incoming = TrackIncoming.ALL
        uow.directory.save_user(user)
        org.mailboxes["sam"] = uow.mailboxes.add(org._mailbox(SAM[0], user.ref, True, True))
        uow.commit()
    org.users["sam"] = user
    profile = dovecot_profile(dovecot, smtp, name=f"Dovecot {uuid.uuid4().hex[:8]}")
    org.use_profile(profile, {"sam": "sam-pass"})
    return org.mailboxes["sam"]


def in_sent(dovecot: DovecotServer, message_id: str, folder: str = "Sent") -> bool:
    """Whether Sam's ``folder`` holds the email with ``message_id``."""
    found = dovecot.doveadm(
        "search", "-u", SAM[0], "mailbox", folder, "header", "Message-ID", message_id.strip("<>")
    )
    return bool(found.strip())
