"""IMAP and POP3 as conformance sources: a real Dovecot for incoming mail and a real SMTP
server (aiosmtpd, STARTTLS with the same test CA) for outgoing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile, ServerProfileKind
from tidings.domain.tracked_category import imap_keyword

if TYPE_CHECKING:
    from tests.builders import Org

#: The Dovecot users every source serves; their passwords are "<name>-pass".
USERS = ("dana", "sam")


def _address(user: str) -> str:
    return f"{user}@northwind.example"


class DovecotCategories:
    """Categories on a Dovecot: IMAP keywords, set and read back with doveadm."""

    _dovecot: DovecotServer

    def stored_category(self, category: str) -> str:
        return imap_keyword(category)

    def set_category(self, address: str, message_id: str, category: str, present: bool) -> None:
        uid = self._dovecot.uid_of(address, message_id)
        self._dovecot.change_flags(address, uid, imap_keyword(category), add=present)

    def categories(self, address: str, message_id: str) -> set[str]:
        flags = self._dovecot.flags(address, self._dovecot.uid_of(address, message_id))
        return {flag for flag in flags if not flag.startswith("\\")}

    def move(self, address: str, message_id: str, source: str, destination: str) -> None:
        if destination not in self._dovecot.folders(address):
            self._dovecot.create_folder(address, destination)
        uid = self._dovecot.uid_of(address, message_id, source)
        self._dovecot.move(address, uid, source, destination)

    def withhold(self, address: str, message_id: str, withheld: bool) -> None:
        self._dovecot.set_unreadable(address, message_id, withheld)

    def delete(self, address: str, message_id: str, folder: str = "INBOX") -> None:
        uid = self._dovecot.uid_of(address, message_id, folder)
        self._dovecot.doveadm("expunge", "-u", address, "mailbox", folder, "uid", str(uid))


class DovecotSource(DovecotCategories):
    """Dovecot with IMAP or POP3 behind it; cursors are UIDVALIDITY and UIDs, or UIDLs."""

    can_throttle = False

    def __init__(self, kind: ServerProfileKind, dovecot: DovecotServer, smtp: SmtpServer) -> None:
        self.kind = kind
        self.name = "imap" if kind is ServerProfileKind.IMAP_SMTP else "pop3"
        self.has_folders = kind is ServerProfileKind.IMAP_SMTP
        self.has_categories = kind is ServerProfileKind.IMAP_SMTP  # POP3 keeps no flags
        self._dovecot = dovecot
        self._smtp = smtp

    def connect(self, org: Org, users: list[str]) -> None:
        imap = self.kind is ServerProfileKind.IMAP_SMTP
        profile = ServerProfile(
            name=f"Dovecot {self.name.upper()}",
            kind=self.kind,
            incoming_host=self._dovecot.host,
            incoming_port=self._dovecot.imaps_port if imap else self._dovecot.pop3s_port,
            incoming_security=ConnectionSecurity.TLS,
            outgoing_host=self._smtp.host,
            outgoing_port=self._smtp.port,
            outgoing_security=ConnectionSecurity.STARTTLS,
            options={"ca_file": str(self._dovecot.ca_file)},
        )
        org.use_profile(profile, {user: f"{user}-pass" for user in users})

    def break_credentials(self, org: Org, user: str) -> None:
        # The password changed on the server; the mailbox in Tidings still has the old one.
        self._dovecot.set_password(_address(user), "changed-elsewhere")
        self._smtp.users[_address(user)] = "changed-elsewhere"

    def deliver(self, address: str, raw: bytes, folder: str = "INBOX") -> None:
        self._dovecot.deliver(address, raw, folder)

    def lose_cursors(self) -> None:
        # IMAP: every folder gets a new UIDVALIDITY, as after a server restore. POP3 keeps no
        # cursor on the server: its UIDLs stay, so there is nothing to lose.
        if self.kind is not ServerProfileKind.IMAP_SMTP:
            return
        for user in USERS:
            for folder in self._dovecot.folders(_address(user)):
                validity = self._dovecot.uidvalidity(_address(user), folder) + 1000
                self._dovecot.doveadm(
                    "mailbox", "update", "-u", _address(user), "--uid-validity",
                    str(validity), folder,
                )  # fmt: skip

    def throttle(self, requests: int) -> None:
        raise NotImplementedError("IMAP and POP3 servers cannot ask a client to slow down")

    def sent(self, address: str) -> list[bytes]:
        return [m.content for m in self._smtp.messages if m.mail_from == address]


@contextmanager
def _dovecot_source(kind: ServerProfileKind, directory: Path) -> Iterator[DovecotSource]:
    users = {_address(user): f"{user}-pass" for user in USERS}
    with DovecotServer(directory / "dovecot", users) as dovecot:
        smtp = SmtpServer(users, tls_context=dovecot.certificates.server_context())
        with smtp:
            yield DovecotSource(kind, dovecot, smtp)


@contextmanager
def imap_source(directory: Path) -> Iterator[DovecotSource]:
    with _dovecot_source(ServerProfileKind.IMAP_SMTP, directory) as source:
        yield source


@contextmanager
def pop3_source(directory: Path) -> Iterator[DovecotSource]:
    with _dovecot_source(ServerProfileKind.POP3_SMTP, directory) as source:
        yield source
