"""pytest fixtures for the real test servers (register with ``pytest_plugins``).

- ``dovecot``: one private Dovecot for the whole run (IMAP/IMAPS/POP3/POP3S/LMTP on free
  loopback ports) with dana@, sam@ and support@northwind.example, passwords "<name>-pass".
  It is shared: give each test its own folder names and Message-IDs, never assume an empty
  INBOX, and put back any password a test changes.
- ``smtp_server``: a fresh receiving SMTP server per test, same users, STARTTLS offered with
  a certificate signed by ``smtp_server.ca_file``.
- ``closed_port``: a loopback port that refuses connections for the whole test, which no
  other process can start listening on meanwhile (``ports.closed_port``).

The functions are named ``*_fixture`` and the fixtures by ``name=``, so that a test module may
import them (``from tests.servers.fixtures import dovecot_fixture  # noqa: F401``) without
its ``dovecot`` parameters shadowing an import (ruff F811).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.dovecot import DovecotServer, issue_certificates
from tests.servers.ports import closed_port
from tests.servers.smtp import SmtpServer

TEST_USERS = {f"{name}@northwind.example": f"{name}-pass" for name in ("dana", "sam", "support")}


@pytest.fixture(scope="session", name="dovecot")
def dovecot_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    server = DovecotServer(tmp_path_factory.mktemp("dovecot"), TEST_USERS)
    with server:
        yield server


@pytest.fixture(name="smtp_server")
def smtp_server_fixture(tmp_path: Path) -> Iterator[SmtpServer]:
    certificates = issue_certificates(tmp_path / "smtp-tls")
    server = SmtpServer(
        TEST_USERS,
        tls_context=certificates.server_context(),
        ca_file=certificates.ca_file,
    )
    with server:
        yield server


@pytest.fixture(name="closed_port")
def closed_port_fixture() -> Iterator[int]:
    with closed_port() as port:
        yield port
