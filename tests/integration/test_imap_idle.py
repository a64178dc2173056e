"""IDLE against a real Dovecot: what ends a folder's wait for news, and what does not."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.builders import dovecot_profile, make_email
from tests.integration.sync_run import org_syncing, service_for
from tests.servers.dovecot import DovecotServer
from tidings.adapters.imap.client import ImapFolderSession
from tidings.domain.credentials import Credential
from tidings.domain.server_profile import ServerProfile
from tidings.services.sync.model import FolderSession

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


#: How long the wait without IDLE lasts: it always lasts that long.
WAIT_SECONDS = 5

#: What Dovecot advertises after login, less IDLE: a server that can only be polled.
NO_IDLE = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS CONDSTORE QRESYNC"


def test_without_idle_the_wait_lasts_its_timeout_and_then_tells_what_came_meanwhile(
    tmp_path: Path,
) -> None:
    with DovecotServer(tmp_path / "dovecot", {DANA: "dana-pass"}, imap_capability=NO_IDLE) as dc:

        async def wait() -> tuple[bool, bool, bool, bool]:
            session = await ImapFolderSession.open(
                dovecot_profile(dc), Credential(DANA, "dana-pass"), "INBOX"
            )
            answered = asyncio.Event()
            noop = session._client.noop

            async def noting() -> Any:
                response = await noop()
                answered.set()
                return response

            session._client.noop = noting  # type: ignore[method-assign]
            try:
                # Long enough for the delivery below to end within it on a busy machine.
                waiting = asyncio.ensure_future(session.wait_for_change(timeout=WAIT_SECONDS))
                # Once the wait's first NOOP is answered, what comes is told only after it.
                await answered.wait()
                await asyncio.to_thread(
                    dc.deliver, DANA, make_email(subject="Polled", message_id="<p@c.example>")
                )
                still_waiting = not waiting.done()
                changed = await waiting
                quiet = await session.wait_for_change(timeout=1)
                return session.supports_idle, still_waiting, changed, quiet
            finally:
                await session.close()

        assert asyncio.run(wait()) == (False, True, True, False)


def test_a_folder_polled_without_idle_is_looked_at_once_per_interval_not_continuously(
    tmp_path: Path, database_url: str
) -> None:
    # A server without IDLE is polled at the profile's interval. The wait once returned at
    # once there, and the folder ran round after round, as fast as the server answered.
    with DovecotServer(tmp_path / "dovecot", {DANA: "dana-pass"}, imap_capability=NO_IDLE) as dc:
        dc.deliver(DANA, make_email(subject="First", message_id="<f@c.example>"))
        waits: list[float] = []

        async def counting(
            profile: ServerProfile, credential: Credential, folder: str
        ) -> FolderSession:
            session = await ImapFolderSession.open(profile, credential, folder)
            wait = session.wait_for_change

            async def wait_for_change(timeout: float) -> bool:
                waits.append(timeout)
                return await wait(timeout)

            session.wait_for_change = wait_for_change  # type: ignore[method-assign]
            return session

        with org_syncing(database_url, ("dana",)) as (org, run):
            profile = replace(dovecot_profile(dc), min_polling_interval_minutes=1)
            org.use_profile(profile, {"dana": "dana-pass"})
            run.start(service_for(run, opener=counting))
            run.wait_for(lambda: len(run.results) == 1)
            run.wait_for(lambda: waits == [60.0])
            # Time passes, well within the one-minute interval: the first wait goes on, and
            # no second one starts (the fault this catches started one at once).
            time.sleep(2)
            run.stop()
        assert waits == [60.0]


def test_connections_to_one_server_hold_its_capabilities_once(tmp_path: Path) -> None:
    # A worker holds a connection per folder: the same thirty-odd words each.
    with DovecotServer(tmp_path / "dovecot", {DANA: "dana-pass"}) as dovecot:

        async def both() -> list[tuple[Any, frozenset[str] | None]]:
            sessions = [
                await ImapFolderSession.open(
                    dovecot_profile(dovecot), Credential(DANA, "dana-pass"), "INBOX"
                )
                for _ in range(2)
            ]
            try:
                for session in sessions:
                    await session.select()
                return tuple((s._client.protocol.capabilities, s.permanent_flags) for s in sessions)
            finally:
                for session in sessions:
                    await session.close()

        (capabilities, flags), (capabilities_again, flags_again) = asyncio.run(both())
        assert "IDLE" in capabilities and flags is not None and "\\Seen" in flags
        assert capabilities is capabilities_again
        assert flags is flags_again
