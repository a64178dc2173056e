"""IDLE against a real Dovecot: what ends a folder's wait for news, and what does not."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.builders import dovecot_profile, make_email
from tests.servers.dovecot import DovecotServer
from tidings.adapters.imap.client import ImapFolderSession
from tidings.domain.credentials import Credential

DANA = "dana@northwind.example"


def test_the_servers_keepalives_do_not_end_the_wait_and_mail_after_them_does(
    tmp_path: Path,
) -> None:
    # Dovecot says "* OK Still here" during IDLE (every second here, every two minutes by
    # default). It reports nothing: the wait goes on in the same IDLE rather than costing a
    # round of sync per keepalive, and mail arriving after several keepalives is news.
    with DovecotServer(tmp_path / "dovecot", {DANA: "dana-pass"}, idle_notify_seconds=1) as dovecot:

        async def wait() -> tuple[bool, bool, bool]:
            session = await ImapFolderSession.open(
                dovecot_profile(dovecot), Credential(DANA, "dana-pass"), "INBOX"
            )
            keepalives = 0
            protocol = session._client.protocol
            received = protocol.data_received

            def counting(data: bytes) -> None:
                nonlocal keepalives
                keepalives += data.count(b"Still here")
                received(data)

            protocol.data_received = counting
            try:
                assert await session.wait_for_change(timeout=2)  # SELECT's EXISTS, taken in
                waiting = asyncio.ensure_future(session.wait_for_change(timeout=60))
                while keepalives < 3 and not waiting.done():
                    await asyncio.sleep(0.05)
                waited_through = not waiting.done()
                await asyncio.to_thread(
                    dovecot.deliver, DANA, make_email(subject="After", message_id="<k@c.example>")
                )
                changed = await waiting
                # Nothing new since: the next wait ends at its timeout, saying so.
                quiet = await session.wait_for_change(timeout=2.5)
                return waited_through, changed, quiet
            finally:
                await session.close()

        assert asyncio.run(wait()) == (True, True, False)
