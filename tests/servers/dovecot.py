"""A private Dovecot (IMAP, POP3, LMTP) for tests, on free loopback ports, under one directory.

Debian's ``dovecot-imapd``, ``dovecot-pop3d`` and ``dovecot-lmtpd`` provide the binaries
(``make test`` installs them when missing); nothing of ``/etc/dovecot`` is read. Everything a
server needs lives under its directory::

    dovecot.conf        the whole configuration (no includes)
    passwd              passwd-file of the users, plain passwords
    tls/                a throw-away CA (ca.pem: give it to clients) and the server's key pair
    mail/<domain>/<name>/Maildir
    run/                base_dir: master.pid and the sockets; run/state is state_dir
    log/dovecot.log     every process logs here; a failed start quotes its tail

Usage::

    with DovecotServer(tmp_path / "dovecot", {"dana@northwind.example": "dana-pass"}) as dc:
        dc.deliver("dana@northwind.example", raw_bytes)            # LMTP into INBOX
        imap = imaplib.IMAP4(dc.host, dc.imap_port)                # plaintext, STARTTLS offered
        imap = imaplib.IMAP4_SSL(dc.host, dc.imaps_port, ssl_context=ssl.create_default_context(
            cafile=dc.ca_file))

The processes that touch mail run as the ``mail`` user (userdb static uid=mail gid=mail), so
that user must be able to reach the directory: ``start()`` adds the search bit (o+x, never
read) to root-owned ancestors that lack it, since pytest makes its base temp directory 0700.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import struct
import subprocess
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.servers.ports import free_ports

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
# Unix socket paths (base_dir + the longest socket name) must fit in sun_path (108 bytes).
MAX_BASE_DIR = 80


@dataclass(frozen=True)
class Certificates:
    """A throw-away CA and a server certificate it signed (for localhost and 127.0.0.1
    unless made for other names)."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the certificate (e.g. for aiosmtpd STARTTLS)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts only the throw-away CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def issue_certificates(
    directory: Path, names: tuple[str, ...] = ("localhost",), with_loopback_address: bool = True
) -> Certificates:
    """Write ca.pem, server.pem (leaf + CA) and server.key in ``directory``; reuse them if there.
    The server certificate is for ``names`` and, unless told otherwise, 127.0.0.1.

    EC P-256 keys are instant to generate. The extensions (SKI/AKI, key usages, EKU) are what
    strict verifiers (Python 3.13's VERIFY_X509_STRICT, OpenSSL 3) ask of a CA and a leaf.
    """
    directory.mkdir(parents=True, exist_ok=True)
    certificates = Certificates(
        ca_file=directory / "ca.pem",
        cert_file=directory / "server.pem",
        key_file=directory / "server.key",
    )
    if all(
        p.exists() for p in (certificates.ca_file, certificates.cert_file, certificates.key_file)
    ):
        return certificates
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tidings test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name) for name in names]
                + (
                    [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
                    if with_loopback_address
                    else []
                )
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    certificates.key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    certificates.key_file.chmod(0o600)
    certificates.cert_file.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    certificates.ca_file.write_bytes(ca_cert.public_bytes(pem))
    return certificates


#: Starts tried with fresh ports when another process took one of them first.
PORT_ATTEMPTS = 3


class PortTakenError(RuntimeError):
    """Dovecot could not listen: a port chosen for it was taken before it bound it."""


def _listening(host: str, pid: int) -> set[int]:
    """The ports on ``host`` (IPv4) that process ``pid`` itself listens on.

    Whether a port accepts connections says nothing of whose it is: when another process
    took one of Dovecot's ports first, that process accepts there, and Dovecot, having bound
    the others, is only about to exit. So the listening sockets (/proc/net/tcp, state 0A) are
    matched to the file descriptors of Dovecot's master, which holds every listener.
    """
    try:
        owned = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError:  # gone, or a descriptor closed while listed: looked at again
        return set()
    address = f"{struct.unpack('=I', socket.inet_aton(host))[0]:08X}"
    ports = set()
    with open("/proc/net/tcp") as table:
        next(table)  # the header
        for line in table:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            ip, port = local.split(":")
            if state == "0A" and ip == address and f"socket:[{inode}]" in owned:
                ports.add(int(port, 16))
    return ports


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def _group_members(group: int) -> list[int]:
    """Live (not zombie) processes of a process group, read from /proc."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == group and state != "Z":
            members.append(int(entry.name))
    return members


def _terminate(process: subprocess.Popen[bytes]) -> None:
    _signal_group(process.pid, signal.SIGTERM)


class DovecotServer:
    """One private Dovecot master process; ports are chosen once and kept across restarts."""

    host = "127.0.0.1"

    def __init__(
        self,
        directory: Path,
        users: dict[str, str],
        *,
        tls: bool = True,
        sent_folder: str = "Sent",
        oauth2_introspection_url: str | None = None,
        imap_capability: str | None = None,
        idle_notify_seconds: int = 120,
        max_connections: int | None = None,
    ) -> None:
        """``tls=False`` serves no TLS at all (no IMAPS/POP3S, no STARTTLS offered);
        ``sent_folder`` names the folder marked ``\\Sent`` (RFC 6154);
        ``oauth2_introspection_url`` also accepts SASL XOAUTH2, each bearer token checked at
        that RFC 7662 endpoint (``tests.servers.oauth``), which must present a certificate of
        this server's CA: ``issue_certificates(directory / "tls")`` before ``start()``;
        ``imap_capability`` replaces what IMAP advertises after login (a server without
        CONDSTORE, say); ``idle_notify_seconds`` is how often an IDLE session hears
        ``* OK Still here``; ``max_connections`` sizes the services for that many IMAP
        sessions at once (benchmarks: Dovecot's defaults stop near a thousand)."""
        self.directory = Path(directory).absolute()
        self.users = dict(users)
        self.tls = tls
        self.sent_folder = sent_folder
        self.oauth2_introspection_url = oauth2_introspection_url
        self.imap_capability = imap_capability
        self.idle_notify_seconds = idle_notify_seconds
        self.max_connections = max_connections
        self._started_once = False
        self._choose_ports()
        self.instance_name = f"tidings-test-{os.getpid()}-{self.imap_port}"
        self.config_file = self.directory / "dovecot.conf"
        self.passwd_file = self.directory / "passwd"
        self.mail_dir = self.directory / "mail"
        self.base_dir = self.directory / "run"
        self.log_file = self.directory / "log" / "dovecot.log"
        self.certificates = Certificates(
            ca_file=self.directory / "tls" / "ca.pem",
            cert_file=self.directory / "tls" / "server.pem",
            key_file=self.directory / "tls" / "server.key",
        )
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], DovecotServer] | None = None
        self._passwd_mtime = 0
        if len(str(self.base_dir)) > MAX_BASE_DIR:
            raise ValueError(f"{self.base_dir} is too long for Dovecot's unix sockets")

    @property
    def ca_file(self) -> Path:
        """The CA that signed the server's certificate: clients verify against it."""
        return self.certificates.ca_file

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.running:
            return
        if shutil.which(DOVECOT) is None:
            raise RuntimeError(f"{DOVECOT} is missing: apt-get install dovecot-imapd ...")
        for sub in ("log", "mail", "run/state"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self.certificates = issue_certificates(self.directory / "tls")
        self._write_passwd()
        self.config_file.write_text(self._config())
        if self.oauth2_introspection_url is not None:
            (self.directory / "dovecot-oauth2.conf.ext").write_text(self._oauth2_config())
        mail = pwd.getpwnam("mail")
        for root, _dirs, files in os.walk(self.mail_dir):
            os.chown(root, mail.pw_uid, mail.pw_gid)
            for name in files:
                os.chown(os.path.join(root, name), mail.pw_uid, mail.pw_gid)
        self._open_ancestors()
        for attempt in range(PORT_ATTEMPTS):
            try:
                self._launch()
                return
            except PortTakenError:
                # The ports were free when chosen, but Dovecot cannot inherit our sockets:
                # in between, any process on the machine may take one (an outgoing
                # connection's ephemeral port too). A first start takes fresh ports; a
                # restart keeps its own, as its clients know them.
                if attempt + 1 == PORT_ATTEMPTS or self._started_once:
                    raise
                self._choose_ports()
                self.config_file.write_text(self._config())

    def _launch(self) -> None:
        # In the foreground (-F), as our child: no pid-file race, and stop() can wait() on it.
        # Output goes to a file, never a pipe that nobody reads.
        with (self.directory / "log" / "startup.log").open("wb") as output:
            self._process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, for stop() to signal
            )
        # Should the test run end without stop() (a crash, a KeyboardInterrupt), still stop it.
        self._finalizer = weakref.finalize(self, _terminate, self._process)
        try:
            self._wait_for_ports()
        except BaseException:
            self.stop()
            raise
        self._started_once = True

    def stop(self) -> None:
        """Stop every process of the instance, so that its clients see the connection close.

        The master alone would leave its children behind: its IMAP sessions keep serving
        their clients for seconds after it exits. So the whole process group (the master
        leads its own session) gets SIGTERM (IMAP clients read ``* BYE Server shutting
        down``), and SIGKILL whatever still lives after the deadline.
        """
        process, self._process = self._process, None
        if process is None:
            return
        if self._finalizer is not None:
            self._finalizer.detach()  # the group id must not be signalled once it may be reused
        group = process.pid
        _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT)
        while _group_members(group):
            if time.monotonic() > deadline:
                _signal_group(group, signal.SIGKILL)
                process.wait()
                raise RuntimeError(
                    f"dovecot did not stop within {STOP_TIMEOUT}s\n{self.log_tail()}"
                )
            time.sleep(0.01)
        process.wait()

    def restart(self) -> None:
        """Stop and start again on the same ports, keeping the mail and the certificates."""
        self.stop()
        self.start()

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def ports(self) -> tuple[int, ...]:
        """The ports this instance listens on."""
        if not self.tls:
            return (self.imap_port, self.pop3_port, self.lmtp_port)
        return (self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port, self.lmtp_port)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return f"({self.log_file} does not exist)"
        return "\n".join(text.splitlines()[-lines:])

    # -- users --------------------------------------------------------------------------------

    def set_password(self, address: str, password: str) -> None:
        """Change (or add) a user's password; when this returns, logins see the new one.

        Dovecot re-reads a passwd-file whose mtime (in whole seconds) or size changed, but
        stats it at most once a second: so the file gets an mtime never used before, and
        ``doveadm auth test`` is polled until the new password is accepted (at most ~1 s).
        """
        self.users[address] = password
        self._write_passwd()
        if not self.running:
            return
        config = str(self.config_file)
        command = [DOVEADM, "-c", config, "auth", "test", "-x", "service=imap", address, password]
        # About a second when idle; each doveadm run can take seconds on a busy machine.
        deadline = time.monotonic() + 20.0
        while True:
            result = subprocess.run(command, capture_output=True, check=False)
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"dovecot still refuses the new password of {address}")
            time.sleep(0.05)

    # -- mail ---------------------------------------------------------------------------------

    def deliver(
        self,
        address: str,
        raw: bytes,
        folder: str | None = None,
        *,
        mail_from: str = "sender@tidings.test",
    ) -> None:
        """Deliver ``raw`` to ``address``: over LMTP into INBOX, or with doveadm into ``folder``.

        LMTP stores ``b"Return-Path: <mail_from>\\r\\n" + raw``, as any final delivery does (no
        Received or Delivered-To header in this configuration); doveadm stores ``raw`` as is.
        IMAP hands messages back with CRLF line ends, so give CRLF to compare bytes.
        """
        if folder is None or folder.upper() == "INBOX":
            with smtplib.LMTP(self.host, self.lmtp_port, timeout=10) as lmtp:
                refused = lmtp.sendmail(mail_from, [address], raw)
            if refused:
                raise RuntimeError(f"LMTP refused {address}: {refused}")
            return
        if folder not in self.folders(address):
            self.create_folder(address, folder)
        self.doveadm("save", "-u", address, "-m", folder, input=raw)

    def folders(self, address: str) -> list[str]:
        return self.doveadm("mailbox", "list", "-u", address).splitlines()

    def create_folder(self, address: str, name: str) -> None:
        """Create (and subscribe) a folder; one that exists already is left as it is (a
        listing taken just before may not show a folder Dovecot is still making known)."""
        try:
            self.doveadm("mailbox", "create", "-u", address, "-s", name)
        except RuntimeError as error:
            if "Mailbox already exists" not in str(error):
                raise

    def delete_folder(self, address: str, name: str) -> None:
        """Delete a folder with its messages (and unsubscribe it)."""
        self.doveadm("mailbox", "delete", "-u", address, "-s", name)

    def move(self, address: str, uid: int, source: str, destination: str) -> None:
        self.doveadm("move", "-u", address, destination, "mailbox", source, "uid", str(uid))

    def flags(self, address: str, uid: int, folder: str = "INBOX") -> set[str]:
        """The flags and keywords of one message."""
        output = self.doveadm(
            "-f", "flow", "fetch", "-u", address, "flags", "mailbox", folder, "uid", str(uid)
        )
        match = re.search(r"\bflags=(.*)$", output.strip())
        return set(match.group(1).split()) if match else set()

    def message_file(self, address: str, message_id: str) -> Path:
        """The Inbox's file holding the message with this Message-ID (Maildir: one a file;
        a message moves from new/ to cur/ by a rename, which keeps the file's mode)."""
        local, _, domain = address.partition("@")
        maildir = self.mail_dir / domain / local / "Maildir"
        wanted = f"message-id: {message_id}".lower().encode()
        for path in [*maildir.glob("cur/*"), *maildir.glob("new/*")]:
            if wanted in path.read_bytes().lower():
                return path
        raise KeyError(message_id)

    def set_unreadable(self, address: str, message_id: str, unreadable: bool) -> None:
        """Make an Inbox message's file unreadable to the mail processes (they run as the
        ``mail`` user), or readable again: the server still lists the message, but fails
        to read it (IMAP: "FETCH failed: Internal error", and the connection ends; POP3:
        "-ERR Message n expunged.")."""
        self.message_file(address, message_id).chmod(0 if unreadable else 0o600)

    def uid_of(self, address: str, message_id: str, folder: str = "INBOX") -> int:
        """The UID of the message with this Message-ID in ``folder``."""
        output = self.doveadm(
            "search", "-u", address, "mailbox", folder, "header", "Message-ID", message_id
        )
        [line] = output.strip().splitlines()
        return int(line.split()[-1])

    def change_flags(
        self, address: str, uid: int, flags: str, *, add: bool = True, folder: str = "INBOX"
    ) -> None:
        """Add (or remove) flags on one message, as a person's mail client does."""
        action = "add" if add else "remove"
        self.doveadm("flags", action, "-u", address, flags, "mailbox", folder, "uid", str(uid))

    def uidvalidity(self, address: str, folder: str) -> int:
        output = self.doveadm(
            "-f", "flow", "mailbox", "status", "-u", address, "uidvalidity", folder
        )
        # flow format: "<folder> uidvalidity=1795614748"
        match = re.search(r"\buidvalidity=(\d+)", output)
        if match is None:
            raise RuntimeError(f"unexpected doveadm mailbox status output: {output!r}")
        return int(match.group(1))

    def doveadm(self, *args: str, input: bytes | None = None) -> str:
        """Run ``doveadm`` against this instance's configuration; raise with its output."""
        result = subprocess.run(
            [DOVEADM, "-c", str(self.config_file), *args],
            input=input,
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"doveadm {' '.join(args)} failed (exit {result.returncode}): "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        return result.stdout.decode()

    # -- internals ----------------------------------------------------------------------------

    def _choose_ports(self) -> None:
        (
            self.imap_port,
            self.imaps_port,
            self.pop3_port,
            self.pop3s_port,
            self.lmtp_port,
        ) = free_ports(5, self.host)

    def _wait_for_ports(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(self.ports)
        while pending:
            if not self.running:
                failure = self._failure_output()
                if "Address already in use" in failure:
                    raise PortTakenError(f"dovecot exited while starting\n{failure}")
                raise RuntimeError(f"dovecot exited while starting\n{failure}")
            assert self._process is not None
            mine = _listening(self.host, self._process.pid)
            pending = [port for port in pending if port not in mine]
            if pending and time.monotonic() > deadline:
                raise RuntimeError(
                    f"dovecot did not listen on {pending} within {START_TIMEOUT}s\n"
                    f"{self._failure_output()}"
                )
            if pending:
                time.sleep(0.02)

    def _failure_output(self) -> str:
        startup = (self.directory / "log" / "startup.log").read_text(errors="replace").strip()
        return f"{startup}\n--- {self.log_file} ---\n{self.log_tail()}"

    def _open_ancestors(self) -> None:
        """Let the mail/dovecot users traverse (not list) root-owned private ancestors."""
        for path in [self.directory, *self.directory.parents]:
            info = path.stat()
            if info.st_uid == os.getuid() and not info.st_mode & 0o001:
                path.chmod((info.st_mode & 0o7777) | 0o001)

    def _write_passwd(self) -> None:
        lines = "".join(f"{address}:{{PLAIN}}{pw}::::::\n" for address, pw in self.users.items())
        temporary = self.passwd_file.with_suffix(".tmp")
        temporary.write_text(lines)
        temporary.chmod(0o644)
        # A fresh whole-second mtime, so that Dovecot sees the change even for a same-size file.
        self._passwd_mtime = max(int(time.time()), self._passwd_mtime + 1)
        os.utime(temporary, (self._passwd_mtime, self._passwd_mtime))
        os.replace(temporary, self.passwd_file)

    def _ssl_settings(self) -> str:
        if not self.tls:
            return "ssl = no"
        return (
            "ssl = yes\n"
            f"ssl_cert = <{self.certificates.cert_file}\n"
            f"ssl_key = <{self.certificates.key_file}\n"
            "ssl_min_protocol = TLSv1.2"
        )

    def _tls_listener(self, name: str, port: int) -> str:
        if not self.tls:
            return ""
        return f"  inet_listener {name} {{\n    address = {self.host}\n    port = {port}\n    ssl = yes\n  }}"

    def _passdbs(self) -> str:
        oauth = self.oauth2_introspection_url is not None
        passwords = (
            "passdb {\n  driver = passwd-file\n"
            + ("  mechanisms = plain login none\n" if oauth else "")
            + f"  args = scheme=PLAIN username_format=%u {self.passwd_file}\n}}"
        )
        if not oauth:
            return f"auth_mechanisms = plain login\n{passwords}"
        # https://doc.dovecot.org/2.3/configuration_manual/authentication/oauth2/
        return (
            f"auth_mechanisms = plain login xoauth2\n{passwords}\n"
            "passdb {\n  driver = oauth2\n  mechanisms = xoauth2\n"
            f"  args = {self.directory}/dovecot-oauth2.conf.ext\n}}"
        )

    def _oauth2_config(self) -> str:
        return (
            "introspection_mode = post\n"
            f"introspection_url = {self.oauth2_introspection_url}\n"
            "force_introspection = yes\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
            f"tls_ca_cert_file = {self.certificates.ca_file}\n"
        )

    def _sizing(self) -> str:
        """Service limits for ``max_connections`` IMAP sessions (none: Dovecot's defaults).

        Each session is an ``imap`` process; ``imap-login`` keeps proxying TLS for the
        sessions it logged in, so its processes together must hold them all, and every
        service they talk to (auth, anvil, stats) one client per login process and session.
        """
        if self.max_connections is None:
            return ""
        sessions = self.max_connections
        return (
            f"default_client_limit = {2 * sessions + 100}\n"
            f"default_process_limit = {sessions + 100}\n"
            f"service imap {{\n  process_limit = {sessions + 100}\n}}\n"
        )

    def _config(self) -> str:
        d = self.directory
        return f"""\
# Written by tests/servers/dovecot.py: a private test instance, loopback only.
base_dir = {self.base_dir}
state_dir = {self.base_dir}/state
instance_name = {self.instance_name}
protocols = imap pop3 lmtp
listen = {self.host}
log_path = {self.log_file}
{self._ssl_settings()}
disable_plaintext_auth = no
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:{d}/mail/%d/%n/Maildir
mail_plugins =
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
{self._passdbs()}
userdb {{
  driver = static
  args = uid=mail gid=mail home={d}/mail/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.imap_port}
  }}
{self._tls_listener("imaps", self.imaps_port)}
  service_count = 0
}}
service pop3-login {{
  inet_listener pop3 {{
    address = {self.host}
    port = {self.pop3_port}
  }}
{self._tls_listener("pop3s", self.pop3s_port)}
  service_count = 0
}}
# Every test client comes from 127.0.0.1, so anvil's auth penalty (a delay of up to 15 s
# for that IP after each failed login, even for good passwords) would slow every later test.
# auth disables the penalty when it cannot reach this socket.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {self.host}
    port = {self.lmtp_port}
  }}
}}
imap_idle_notify_interval = {self.idle_notify_seconds} secs
{self._sizing()}mailbox_idle_check_interval = 1 secs
namespace inbox {{
  inbox = yes
  separator = /
  mailbox "{self.sent_folder}" {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@tidings.test
}}
lmtp_save_to_detail_mailbox = no
lmtp_add_received_header = no
lmtp_hdr_delivery_address = none
{f"imap_capability = {self.imap_capability}" if self.imap_capability else ""}
"""
