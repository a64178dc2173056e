"""A pushed email fetched without a search first, against a real Dovecot: only where the
server's counts bound what one FETCH brings, and never leaving an email out."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.builders import dovecot_profile, make_email
from tests.servers.dovecot import DovecotServer
from tidings.adapters.imap.client import ImapFolderSession
from tidings.domain.credentials import Credential

DANA = "dana@northwind.example"


def _email(n: int) -> bytes:
    return make_email(subject=f"N{n}", message_id=f"<n{n}@c.example>")


def test_new_mail_is_fetched_at_once_after_a_catch_up_and_searched_for_otherwise(
    tmp_path: Path,
) -> None:
    with DovecotServer(tmp_path / "dovecot", {DANA: "dana-pass"}) as dovecot:
        dovecot.deliver(DANA, _email(1))

        async def run() -> list[object]:
            seen: list[object] = []
            session = await ImapFolderSession.open(
                dovecot_profile(dovecot), Credential(DANA, "dana-pass"), "INBOX"
            )
            try:
                session.status = await session.select()
                # No catch-up on this connection yet: nothing bounds what is above.
                seen.append(await session.fetch_new(0, 100))
                counts = session.counts()
                listed = await session.uids_after(0)
                session.caught_up_at(counts)
                seen.append(listed)
                # Nothing came: no command at all, nothing fetched.
                seen.append(await session.fetch_new(listed[-1], 100))

                for n in (2, 3):
                    await asyncio.to_thread(dovecot.deliver, DANA, _email(n))
                await session.wait_for_change(timeout=10)
                counts = session.counts()
                fetched = await session.fetch_new(listed[-1], 100)
                assert fetched is not None
                session.caught_up_at(counts)
                seen.append([m.uid for m in fetched])
                seen.append(all(b"Subject: N" in m.raw for m in fetched))

                # More than the bound: searched for instead.
                for n in (4, 5, 6):
                    await asyncio.to_thread(dovecot.deliver, DANA, _email(n))
                await session.wait_for_change(timeout=10)
                while session.counts() != (6, 0):  # Dovecot may report them one by one
                    await session.wait_for_change(timeout=2)
                seen.append(await session.fetch_new(fetched[-1].uid, 2))
                counts = session.counts()
                later = await session.uids_after(fetched[-1].uid)
                session.caught_up_at(counts)
                seen.append(later)

                # An expunge since the catch-up: the counts no longer bound what is new.
                await asyncio.to_thread(
                    dovecot.doveadm, "expunge", "-u", DANA, "mailbox", "INBOX", "uid", "1"
                )
                await asyncio.to_thread(dovecot.deliver, DANA, _email(7))
                await session.wait_for_change(timeout=10)
                seen.append(await session.fetch_new(later[-1], 100))
            finally:
                await session.close()
            return seen

        assert asyncio.run(run()) == [None, [1], [], [2, 3], True, None, [4, 5, 6], None]
