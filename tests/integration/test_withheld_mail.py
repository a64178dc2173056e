"""What a real Dovecot says of mail it lists but does not hand over, as the IMAP session
reads it (the sync that follows is in the conformance suite, for every mail source).

A message file removed behind a session is one the session still lists: FETCH answers
``BODY[] NIL`` for it (RFC 3501 §7.4.2), and a search after a NOOP no longer finds it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.builders import dovecot_profile, make_email
from tests.servers.dovecot import DovecotServer
from tidings.adapters.imap.client import ImapFolderSession
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError

DANA = "dana@northwind.example"


def _deliver(server: DovecotServer, *subjects: str) -> None:
    for subject in subjects:
        server.deliver(DANA, make_email(subject=subject, message_id=f"<{subject}@c.example>"))


async def _session(dovecot: DovecotServer) -> ImapFolderSession:
    session = await ImapFolderSession.open(
        dovecot_profile(dovecot), Credential(DANA, "dana-pass"), "INBOX"
    )
    session.status = await session.select()
    return session


def test_a_fetch_leaves_out_what_was_expunged_behind_the_session_and_search_tells_it_gone(
    tmp_path: Path,
) -> None:
    with DovecotServer(tmp_path / "dovecot", {DANA: "dana-pass"}) as dovecot:
        _deliver(dovecot, "One", "Two", "Three")

        async def run() -> tuple[list[int], str | None, list[int]]:
            session = await _session(dovecot)
            try:
                os.unlink(dovecot.message_file(DANA, "<Two@c.example>"))
                fetched = await session.fetch([1, 2, 3])
                return [m.uid for m in fetched], session.fetch_refusal, await session.missing([2])
            finally:
                await session.close()

        uids, refusal, gone = asyncio.run(run())
    assert uids == [1, 3]
    assert refusal is not None and "NIL" in refusal
    assert gone == [2]


def test_a_search_the_server_refuses_is_an_error_not_every_message_gone(tmp_path: Path) -> None:
    # Before: the refusal's text was read as the search's answer, which named no UID, so
    # every UID asked about was taken for expunged and its activity for deleted.
    with DovecotServer(tmp_path / "dovecot", {DANA: "dana-pass"}) as dovecot:
        _deliver(dovecot, "One")

        async def run() -> None:
            session = await _session(dovecot)
            try:
                assert await session.missing([1]) == []
                # No UID is that large (RFC 3501 §2.3.1.1: 32 bits): Dovecot answers BAD.
                await session.missing([1, 2**33])
            finally:
                await session.close()

        with pytest.raises(MailServerError, match="refused the search"):
            asyncio.run(run())
