"""The real test servers: a private Dovecot (IMAP, POP3, LMTP) and an aiosmtpd receiver.

Read with the standard library's clients only, so that these tests vouch for the servers and
not for Tidings' own protocol code.
"""

from __future__ import annotations

import imaplib
import poplib
import re
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.builders import make_email
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import TEST_USERS
from tests.servers.smtp import SmtpServer

DANA = "dana@northwind.example"
SAM = "sam@northwind.example"
SUPPORT = "support@northwind.example"
SENDER = "maria@contoso.example"


def _email(subject: str = "Quote for 500 seats") -> tuple[str, bytes]:
    message_id = f"<{uuid.uuid4().hex}@contoso.example>"
    return message_id, make_email(sender=SENDER, subject=subject, message_id=message_id)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextmanager
def _imap(server: DovecotServer, address: str) -> Iterator[imaplib.IMAP4]:
    imap = imaplib.IMAP4(server.host, server.imap_port, timeout=5)
    try:
        imap.login(address, TEST_USERS[address])
        yield imap
    finally:
        imap.logout()


def _uid_of(imap: imaplib.IMAP4, message_id: str) -> int | None:
    typ, data = imap.uid("SEARCH", "HEADER", "Message-ID", message_id)
    assert typ == "OK", data
    uids = data[0].split()
    return int(uids[-1]) if uids else None


def _fetch(imap: imaplib.IMAP4, uid: int) -> bytes:
    typ, data = imap.uid("FETCH", str(uid), "(RFC822)")
    assert typ == "OK", data
    part = data[0]
    assert isinstance(part, tuple) and isinstance(part[1], bytes), data
    return part[1]


def _select_uidvalidity(imap: imaplib.IMAP4, folder: str) -> int:
    typ, _ = imap.select(f'"{folder}"')
    assert typ == "OK"
    typ, data = imap.response("UIDVALIDITY")
    assert typ == "UIDVALIDITY" and data[0] is not None, data
    return int(data[0])


# -- Dovecot: delivery and folders ----------------------------------------------------------


def test_lmtp_delivery_lands_in_the_inbox_byte_for_byte(dovecot: DovecotServer) -> None:
    # What LMTP delivers is what IMAP serves: the raw bytes, after the Return-Path line
    # that every final delivery prepends.
    message_id, raw = _email()
    dovecot.deliver(DANA, raw, mail_from=SENDER)
    with _imap(dovecot, DANA) as imap:
        imap.select("INBOX")
        uid = _uid_of(imap, message_id)
        assert uid is not None
        assert _fetch(imap, uid) == f"Return-Path: <{SENDER}>\r\n".encode() + raw


def test_a_message_can_be_delivered_straight_into_another_folder(
    dovecot: DovecotServer,
) -> None:
    # deliver(folder=...) creates a missing (nested) folder and stores the bytes unchanged.
    folder = _unique("Projects/Acme")
    message_id, raw = _email()
    dovecot.deliver(DANA, raw, folder)
    with _imap(dovecot, DANA) as imap:
        typ, listing = imap.list('""', '"Projects/*"')
        assert typ == "OK"
        suffix = f'"/" {folder}'.encode()
        assert any(isinstance(line, bytes) and line.endswith(suffix) for line in listing)
        imap.select(f'"{folder}"')
        uid = _uid_of(imap, message_id)
        assert uid is not None
        assert _fetch(imap, uid) == raw
        imap.select("INBOX")
        assert _uid_of(imap, message_id) is None


def test_a_mailbox_has_special_use_folders_and_advertises_condstore_qresync_and_idle(
    dovecot: DovecotServer,
) -> None:
    # A fresh account lists Sent, Drafts and Trash with their special-use flags under "/",
    # and the capabilities after login include what sync relies on.
    with _imap(dovecot, SUPPORT) as imap:
        _, data = imap.capability()
        capabilities = set(data[0].split())
        assert {b"IDLE", b"CONDSTORE", b"QRESYNC", b"MOVE", b"UIDPLUS", b"SPECIAL-USE"} <= (
            capabilities
        )
        _, listing = imap.list()
        lines = {line.decode() for line in listing if isinstance(line, bytes)}
        for flag, name in (("\\Sent", "Sent"), ("\\Drafts", "Drafts"), ("\\Trash", "Trash")):
            assert any(flag in line and line.endswith(f'"/" {name}') for line in lines), lines


def test_move_takes_a_message_from_one_folder_to_another(dovecot: DovecotServer) -> None:
    # move(uid, source, destination) is what a user dragging a message in a client does.
    source, destination = _unique("Clients"), _unique("Archive")
    message_id, raw = _email()
    dovecot.deliver(DANA, raw, source)
    dovecot.create_folder(DANA, destination)
    with _imap(dovecot, DANA) as imap:
        imap.select(f'"{source}"')
        uid = _uid_of(imap, message_id)
        assert uid is not None
    dovecot.move(DANA, uid, source, destination)
    with _imap(dovecot, DANA) as imap:
        imap.select(f'"{source}"')
        assert _uid_of(imap, message_id) is None
        imap.select(f'"{destination}"')
        moved = _uid_of(imap, message_id)
        assert moved is not None
        assert _fetch(imap, moved) == raw


def test_deleting_and_recreating_a_folder_gives_it_a_new_uidvalidity(
    dovecot: DovecotServer,
) -> None:
    # A folder deleted and created again under the same name is a new folder to a client.
    folder = _unique("Recreated")
    dovecot.deliver(DANA, _email()[1], folder)
    before = dovecot.uidvalidity(DANA, folder)
    dovecot.delete_folder(DANA, folder)
    dovecot.create_folder(DANA, folder)
    after = dovecot.uidvalidity(DANA, folder)
    assert after != before
    with _imap(dovecot, DANA) as imap:
        assert _select_uidvalidity(imap, folder) == after
        _, data = imap.uid("SEARCH", "ALL")
        assert data == [b""]


def test_restart_keeps_the_mail_its_uids_and_the_uidvalidity(dovecot: DovecotServer) -> None:
    # A server restart is invisible to a syncing client: same UIDVALIDITY, same UIDs, same
    # bytes, same ports and certificate.
    message_id, raw = _email()
    dovecot.deliver(SAM, raw)
    with _imap(dovecot, SAM) as imap:
        uidvalidity = _select_uidvalidity(imap, "INBOX")
        uid = _uid_of(imap, message_id)
    assert uid is not None
    ports = dovecot.ports
    dovecot.restart()
    assert dovecot.ports == ports
    assert dovecot.uidvalidity(SAM, "INBOX") == uidvalidity
    with _imap(dovecot, SAM) as imap:
        assert _select_uidvalidity(imap, "INBOX") == uidvalidity
        assert _uid_of(imap, message_id) == uid
        assert _fetch(imap, uid).endswith(raw)


def test_restart_disconnects_the_clients_that_were_connected(dovecot: DovecotServer) -> None:
    # As after a real restart, a client idling at the time reads BYE and then end of stream.
    imap = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=5)
    imap.login(SAM, TEST_USERS[SAM])
    imap.select("INBOX")
    imap.send(b"T1 IDLE\r\n")
    assert imap.readline().startswith(b"+ ")
    dovecot.restart()
    assert imap.readline().startswith(b"* BYE")
    assert imap.readline() == b""
    imap.shutdown()
    with _imap(dovecot, SAM) as again:
        assert again.select("INBOX")[0] == "OK"


# -- Dovecot: IDLE -----------------------------------------------------------------------------


def _read_until(imap: imaplib.IMAP4, pattern: bytes, deadline: float) -> bytes:
    """Read server lines until one matches; the socket timeout bounds each wait."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no line matching {pattern!r}")
        imap.sock.settimeout(remaining)
        line = imap.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if re.search(pattern, line):
            return line


def test_idle_pushes_exists_soon_after_an_lmtp_delivery(dovecot: DovecotServer) -> None:
    # A client in IDLE hears of new mail from the server itself (latency: bench/latency.py).
    with _imap(dovecot, SAM) as imap:
        imap.select("INBOX")
        imap.send(b"T1 IDLE\r\n")
        _read_until(imap, rb"^\+ ", time.monotonic() + 5)
        dovecot.deliver(SAM, _email()[1])
        exists = _read_until(imap, rb"^\* \d+ EXISTS", time.monotonic() + 5)
        imap.send(b"DONE\r\n")
        _read_until(imap, rb"^T1 OK", time.monotonic() + 5)
        imap.sock.settimeout(5)
    assert exists.startswith(b"* ")


# -- Dovecot: authentication and TLS ----------------------------------------------------------


def test_a_wrong_password_is_refused_and_the_right_one_still_works_at_once(
    dovecot: DovecotServer,
) -> None:
    # Failed logins from 127.0.0.1 must not slow later tests down (no anvil penalty).
    imap = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=5)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap.login(DANA, "not-dana-pass")
    imap.shutdown()
    with _imap(dovecot, DANA) as imap:
        assert imap.state == "AUTH"


def test_set_password_takes_effect_for_the_next_login(dovecot: DovecotServer) -> None:
    # A password changed on the server refuses the old one and accepts the new one at once.
    try:
        dovecot.set_password(SUPPORT, "support-pass-2")
        imap = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=5)
        with pytest.raises(imaplib.IMAP4.error):
            imap.login(SUPPORT, "support-pass")
        imap.shutdown()
        imap = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=5)
        imap.login(SUPPORT, "support-pass-2")
        imap.logout()
    finally:
        dovecot.set_password(SUPPORT, TEST_USERS[SUPPORT])


def test_starttls_verifies_against_the_test_ca_and_not_the_default_trust_store(
    dovecot: DovecotServer,
) -> None:
    # The certificate is for localhost/127.0.0.1, signed by a CA only the tests know.
    imap = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=5)
    imap.starttls(ssl_context=ssl.create_default_context(cafile=str(dovecot.ca_file)))
    imap.login(DANA, TEST_USERS[DANA])
    imap.logout()
    imap = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError):
        imap.starttls(ssl_context=ssl.create_default_context())
    # (the failed handshake has closed the connection already)


@pytest.mark.parametrize(
    ("port_name", "greeting"), [("imaps_port", b"* OK"), ("pop3s_port", b"+OK")]
)
def test_implicit_tls_ports_verify_against_the_test_ca_and_not_the_default_trust_store(
    dovecot: DovecotServer, port_name: str, greeting: bytes
) -> None:
    # IMAPS and POP3S speak TLS from the first byte, with the same certificate.
    port = getattr(dovecot, port_name)
    trusted = ssl.create_default_context(cafile=str(dovecot.ca_file))
    for server_name in ("localhost", "127.0.0.1"):
        with (
            socket.create_connection((dovecot.host, port), timeout=5) as raw,
            trusted.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            assert tls.recv(1024).startswith(greeting)
    with (
        socket.create_connection((dovecot.host, port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")


def test_imaps_logs_in_with_the_stdlib_client(dovecot: DovecotServer) -> None:
    # imaplib.IMAP4_SSL with the test CA is all a client needs for implicit TLS.
    context = ssl.create_default_context(cafile=str(dovecot.ca_file))
    imap = imaplib.IMAP4_SSL(dovecot.host, dovecot.imaps_port, ssl_context=context, timeout=5)
    imap.login(DANA, TEST_USERS[DANA])
    assert imap.select("INBOX")[0] == "OK"
    imap.logout()


# -- Dovecot: POP3 -----------------------------------------------------------------------------


def test_pop3_lists_a_delivered_message_with_a_stable_uidl(dovecot: DovecotServer) -> None:
    # POP3 sees the INBOX: the new message is retrievable and keeps its UIDL across sessions.
    message_id, raw = _email()
    dovecot.deliver(SUPPORT, raw)

    def session() -> tuple[dict[bytes, bytes], list[bytes]]:
        pop = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=5)
        try:
            pop.user(SUPPORT)
            pop.pass_(TEST_USERS[SUPPORT])
            _, listing, _ = pop.uidl()
            uidls = dict(line.split(b" ", 1) for line in listing)
            last = max(uidls, key=int)
            _, lines, _ = pop.retr(int(last))
            return uidls, lines
        finally:
            pop.quit()

    first, lines = session()
    assert message_id.encode() in b"\r\n".join(lines)
    assert b"\r\n".join(lines) + b"\r\n" == b"Return-Path: <sender@tidings.test>\r\n" + raw
    second, _ = session()
    assert second == first


# -- Dovecot: lifecycle ------------------------------------------------------------------------


# -- SMTP --------------------------------------------------------------------------------------


def test_the_smtp_server_keeps_what_an_authenticated_client_sent(
    smtp_server: SmtpServer,
) -> None:
    # The envelope, the exact DATA bytes and the AUTH identity are all kept.
    _, raw = _email()
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.login(DANA, TEST_USERS[DANA])
        client.sendmail(DANA, [SENDER, "tom@contoso.example"], raw)
    [message] = smtp_server.wait_for(1, timeout=5)
    assert message.mail_from == DANA
    assert message.rcpt_tos == (SENDER, "tom@contoso.example")
    assert message.content == raw
    assert message.login == DANA
    assert message.tls is False


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_the_smtp_server_refuses_a_wrong_password(smtp_server: SmtpServer, mechanism: str) -> None:
    # A bad password gets 535, whichever mechanism carried it.
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.ehlo()
        client.user, client.password = DANA, "not-dana-pass"
        authobject = client.auth_plain if mechanism == "PLAIN" else client.auth_login
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.auth(mechanism, authobject)
        assert refused.value.smtp_code == 535


def test_the_smtp_server_offers_starttls_with_a_certificate_from_its_ca(
    smtp_server: SmtpServer,
) -> None:
    # STARTTLS verifies against the server's CA file, and not against the default store.
    assert smtp_server.ca_file is not None
    _, raw = _email()
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.starttls(context=ssl.create_default_context(cafile=str(smtp_server.ca_file)))
        client.login(SAM, TEST_USERS[SAM])
        client.sendmail(SAM, [SENDER], raw)
    [message] = smtp_server.wait_for(1, timeout=5)
    assert message.tls is True
    assert message.content == raw
    with (
        smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        client.starttls(context=ssl.create_default_context())


def test_wait_for_gives_up_after_its_timeout(smtp_server: SmtpServer) -> None:
    # Waiting for mail that never comes fails fast instead of hanging the run.
    with pytest.raises(TimeoutError, match="0 message"):
        smtp_server.wait_for(1, timeout=0.2)


def test_a_dovecot_whose_port_was_taken_before_it_bound_starts_on_fresh_ports(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Ports are chosen free, but another process may take one before Dovecot binds it.
    server = DovecotServer(tmp_path_factory.mktemp("dv"), {"pat@northwind.example": "pw"})
    taken = server.imap_port
    with socket.socket() as squatter:
        squatter.bind((server.host, taken))
        squatter.listen()
        with server:
            assert server.imap_port != taken
            imap = imaplib.IMAP4(server.host, server.imap_port)
            try:
                imap.login("pat@northwind.example", "pw")
            finally:
                imap.logout()
