"""One IMAP connection watching one folder: SELECT, UID SEARCH, FETCH, IDLE (aioimaplib).

A thin façade: every response goes through ``responses`` (pure parsing), and every
library or socket error leaves as a ``MailServerError`` saying whether a person must act.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from aioimaplib import aioimaplib

from tidings.adapters.imap.connect import ConnectionLost, authenticate_xoauth2, connect
from tidings.adapters.imap.flags import parse_flag_fetch, parse_permanent_flags, uid_set
from tidings.adapters.imap.folder_names import to_wire
from tidings.adapters.imap.responses import (
    folder_with_attribute,
    imap_date,
    is_change,
    nil_bodies,
    parse_fetch,
    parse_list,
    parse_search,
    parse_select,
    parse_sizes,
)
from tidings.adapters.imap.shared_words import shared
from tidings.adapters.imap.wire import install_receiver
from tidings.adapters.oauth.tokens import XOAUTH2_REFUSED, OAuthTokens
from tidings.domain.credentials import Credential
from tidings.domain.error_text import first_line
from tidings.domain.errors import FolderMissingError, MailServerError
from tidings.domain.server_profile import CredentialSource, ServerProfile
from tidings.domain.sync import FetchedMessage, FolderStatus
from tidings.domain.tracked_category import FlagState

#: RFC 2177: re-issue IDLE well before servers' 30-minute inactivity timeout.
IDLE_RENEWAL_SECONDS = 25 * 60
_FETCH_CHUNK = 50
#: The highest UID an IMAP server may give (RFC 3501 §2.3.1.1: a 32-bit value).
_MAX_UID = 4_294_967_295
#: Characters of a server's answer quoted in an error.
_ANSWER_LIMIT = 200
_T = TypeVar("_T")


class ImapFolderSession:
    """A logged-in connection with one folder selected."""

    def __init__(
        self, client: aioimaplib.IMAP4, folder: str, status: FolderStatus, lost: ConnectionLost
    ) -> None:
        self._client = client
        self.folder = folder
        self.status = status
        self._lost = lost
        # A change the server reported during another command is not repeated at IDLE.
        self._change_seen = False
        #: The flags the selected folder keeps for good (None: SELECT did not say).
        self.permanent_flags: frozenset[str] | None = None
        #: RFC 7162 QRESYNC enabled on this connection (expunges then come as VANISHED).
        self._qresync = False
        #: UIDs the server said vanished, not yet handed to ``departed``.
        self._vanished: set[int] = set()
        #: Whether ``vanished_since`` asked since the SELECT: from then on, the server tells
        #: this session of every expunge on its own.
        self._vanished_asked = False
        #: What the server said when it last left a message out of a FETCH, if anything.
        self.fetch_refusal: str | None = None
        #: Messages in the selected folder, as the server last counted them (EXISTS).
        self._exists: int | None = None
        #: Expunges the server reported on this connection (EXPUNGE, VANISHED).
        self._expunges = 0
        #: (messages, expunges) just before the last catch-up that ingested every message
        #: above the cursor: with no expunge since, at most the growth since are above it.
        self._listed: tuple[int, int] | None = None

    @classmethod
    async def open(
        cls,
        profile: ServerProfile,
        credential: Credential,
        folder: str,
        *,
        tokens: OAuthTokens | None = None,
    ) -> ImapFolderSession:
        """Connect, log in and select ``folder``; raise ``MailServerError`` otherwise.

        ``tokens`` keeps OAuth access tokens between connections (a new one each time without).
        """
        session = await cls.sign_in(profile, credential, folder, tokens=tokens)
        try:
            session.status = await session.select()
        except BaseException:
            await session.close()
            raise
        return session

    @classmethod
    async def sign_in(
        cls,
        profile: ServerProfile,
        credential: Credential,
        folder: str = "INBOX",
        *,
        tokens: OAuthTokens | None = None,
    ) -> ImapFolderSession:
        """Connect and log in, selecting nothing yet."""
        client, lost = await connect(profile)
        session = cls(client, folder, FolderStatus(0, None, 0), lost)
        session._watch_unsolicited()
        if profile.credential_source is CredentialSource.OAUTH:
            await session._login_xoauth2(profile, credential, tokens or OAuthTokens())
        else:
            await session._login(credential)
        # Final once signed in (ENABLE adds none): held alike by all of a server's connections.
        client.protocol.capabilities = shared(client.protocol.capabilities)
        return session

    def _watch_unsolicited(self) -> None:
        def changed() -> None:
            self._change_seen = True

        def vanished(uids: list[int]) -> None:
            self._vanished.update(uids)
            self._expunges += len(uids)

        def counted(kind: bytes, number: int) -> None:
            if kind == b"EXISTS":
                self._exists = number
            else:  # EXPUNGE
                self._expunges += 1
                if self._exists is not None:
                    self._exists -= 1

        install_receiver(self._client.protocol, changed, vanished, counted)

    async def _login(self, credential: Credential) -> None:
        response = await self._call(self._client.login(credential.username, credential.password))
        if response.result != "OK":
            await self.close()
            raise MailServerError(
                "authentication failed: check the user name and password on the mailbox",
                permanent=True,
            )

    async def _login_xoauth2(
        self, profile: ServerProfile, credential: Credential, tokens: OAuthTokens
    ) -> None:
        async def attempt(token: str) -> bool:
            return await self._call(authenticate_xoauth2(self._client, credential.username, token))

        try:
            accepted = await tokens.sign_in(profile, credential, attempt)
        except BaseException:
            await self.close()
            raise
        if not accepted:
            await self.close()
            raise MailServerError(XOAUTH2_REFUSED, permanent=True)

    async def select(self) -> FolderStatus:
        """SELECT, with CONDSTORE where offered so that SELECT reports HIGHESTMODSEQ; where
        QRESYNC is offered it is enabled first (RFC 7162 §3.2.3: only before a SELECT), so
        that expunges are told as the UIDs that ``VANISHED``."""
        name = _quoted(to_wire(self.folder))
        if "QRESYNC" in self._client.protocol.capabilities and not self._qresync:
            enabled = await self._call(self._client.enable("QRESYNC"))
            self._qresync = enabled.result == "OK" and any(
                b"QRESYNC" in bytes(line).upper() for line in enabled.lines
            )
        if self.supports_condstore:
            name += " (CONDSTORE)"  # RFC 7162 §3.1.8
        response = await self._call(self._client.select(name))
        if response.result != "OK":
            answer = _answer(response)
            # RFC 5530's NONEXISTENT, where the server says it (Dovecot's SELECT does not).
            if "[NONEXISTENT]" in answer.upper() or not await self._folder_exists(self.folder):
                raise FolderMissingError(f"the mailbox has no folder {self.folder!r}")
            raise MailServerError(
                f"the folder {self.folder!r} cannot be opened ({answer})", permanent=False
            )
        self.permanent_flags = parse_permanent_flags(response.lines)
        # SELECT's own EXISTS answers it: the round after a SELECT reads the whole folder.
        self._change_seen = False
        self._vanished_asked = False
        self._listed = None
        status = parse_select(response.lines)
        self._exists = status.exists
        return status

    async def uids_after(self, last_uid: int, since: datetime | None = None) -> list[int]:
        """UIDs above ``last_uid`` (and received on or after ``since``), ascending."""
        criteria = ["UID", f"{last_uid + 1}:*"]
        if since is not None:
            criteria += ["SINCE", imap_date(since)]
        response = await self._call(self._client.uid_search(*criteria, charset=None))
        _searched(response)
        # "n:*" always matches the highest UID, even when it is below n (RFC 3501 §6.4.8).
        return [uid for uid in parse_search(response.lines) if uid > last_uid]

    def counts(self) -> tuple[int, int] | None:
        """The server's count of messages in the folder and of expunges on this connection,
        to hand to ``caught_up_at`` once every message above the cursor is ingested."""
        return None if self._exists is None else (self._exists, self._expunges)

    def caught_up_at(self, counts: tuple[int, int] | None) -> None:
        """Every message above the cursor when ``counts`` were read is now ingested."""
        self._listed = counts

    async def fetch_new(self, last_uid: int, most: int) -> list[FetchedMessage] | None:
        """Every message above ``last_uid``, fetched without a search first, when the
        server's counts show there are at most about ``most`` of them; None when they
        cannot (no catch-up since SELECT, an expunge since, or more mail than that).

        A pushed email costs a folder one command less. The counts of a catch-up are read
        before it lists, so a message the server reports meanwhile is counted again, never
        left out: they only bound how much one FETCH may bring, which asks for every UID
        above ``last_uid``.
        """
        if self._listed is None or self._exists is None:
            return None
        exists, expunges = self._listed
        if self._expunges != expunges or self._exists - exists > most:
            return None
        if self._exists == exists or last_uid >= _MAX_UID:
            return []  # nothing came: a flag change woke the folder
        # Up to the highest UID there can be, not "*": "n:*" names the last message even
        # when its UID is below n (RFC 3501 §6.4.8), which would fetch it again for nothing.
        uids = f"{last_uid + 1}:{_MAX_UID}"
        response = await self._call(
            self._client.uid("fetch", uids, "(UID INTERNALDATE BODY.PEEK[])")
        )
        if response.result != "OK" or nil_bodies(response.lines):
            # Some mail was not handed over: the catch-up's own search and fetch find which.
            self.fetch_refusal = _answer(response)
            return None
        found = [m for m in parse_fetch(response.lines) if m.uid > last_uid]
        return sorted(found, key=lambda message: message.uid)

    async def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]:
        """The raw bytes of those of ``uids`` the server hands over, without setting
        \\Seen. A message left out (expunged meanwhile, or refused: Gmail's "NO Some
        messages could not be FETCHed") is for the caller to notice; what the server said
        of it is ``fetch_refusal``."""
        found: list[FetchedMessage] = []
        self.fetch_refusal = None
        for first in range(0, len(uids), _FETCH_CHUNK):
            chunk = ",".join(str(uid) for uid in uids[first : first + _FETCH_CHUNK])
            response = await self._call(
                self._client.uid("fetch", chunk, "(UID INTERNALDATE BODY.PEEK[])")
            )
            if response.result != "OK":
                self.fetch_refusal = _answer(response)
            elif nil_bodies(response.lines):
                self.fetch_refusal = "it answered with no body (BODY[] NIL)"
            found.extend(parse_fetch(response.lines))
        return sorted(found, key=lambda message: message.uid)

    async def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """The size of each of ``uids`` (RFC822.SIZE); those the server did not say are
        left out."""
        if not uids:
            return {}
        response = await self._call(self._client.uid("fetch", uid_set(uids), "(UID RFC822.SIZE)"))
        return parse_sizes(response.lines) if response.result == "OK" else {}

    async def flags_since(self, modseq: int) -> list[FlagState]:
        """Flags of every message changed (or added) after ``modseq`` (RFC 7162 §3.1.4)."""
        response = await self._call(
            self._client.uid("fetch", "1:*", f"(UID FLAGS) (CHANGEDSINCE {modseq})")
        )
        return parse_flag_fetch(response.lines)

    async def recent_flags(self, limit: int) -> list[FlagState]:
        """Flags of the folder's ``limit`` newest messages: a server without CONDSTORE
        cannot say what changed, so flags are read again, within a bound.

        Named by their numbers from the last (the folder holds ``EXISTS``), not by their
        UIDs: those would take a search of every UID of the folder each round, ten
        thousand for a round that reads five hundred."""
        exists = self._exists or 0  # SELECT tells it; flags are read only once selected
        if exists == 0:
            return []
        # "n:*" always reaches the newest message, however many arrived meanwhile.
        first = max(1, exists - limit + 1)
        response = await self._call(self._client.fetch(f"{first}:*", "(UID FLAGS)"))
        return parse_flag_fetch(response.lines)

    async def vanished_since(self, modseq: int, last_uid: int) -> list[int]:
        """UIDs up to ``last_uid`` expunged after ``modseq`` (RFC 7162 §3.2.6: ``UID FETCH …
        (CHANGEDSINCE m VANISHED)`` answers ``VANISHED (EARLIER)``), with those the server
        reported on its own meanwhile; each checked by ``UID SEARCH`` to be gone indeed.

        The folder is asked once per SELECT. After that the server reports each expunge to
        this session as ``VANISHED`` on its own, at the latest at the next NOOP or IDLE
        (RFC 7162 §3.2.10, RFC 3501 §7.4.1): those reports are the whole answer, and a
        pushed email costs no extra command."""
        if last_uid >= 1 and not self._vanished_asked:
            await self._call(
                self._client.uid(
                    "fetch", f"1:{last_uid}", f"(UID) (CHANGEDSINCE {modseq} VANISHED)"
                )
            )
            self._vanished_asked = True
        candidates = sorted(uid for uid in self._vanished if uid <= last_uid)
        self._vanished.difference_update(candidates)
        return await self.missing(candidates)

    async def missing(self, uids: Sequence[int]) -> list[int]:
        """Those of ``uids`` no longer in the folder (``UID SEARCH UID set``). A NOOP first:
        a server may hold back an expunge made elsewhere until a command lets it tell
        (RFC 3501 §7.4.1), and a message it has not told of is still found."""
        if not uids:
            return []
        await self._call(self._client.noop())
        response = await self._call(self._client.uid_search("UID", uid_set(uids), charset=None))
        _searched(response)  # a failed search finds nothing: that is not "all gone"
        found = set(parse_search(response.lines))
        return [uid for uid in uids if uid not in found]

    async def add_keyword(self, uids: Sequence[int], keyword: str) -> bool:
        """Add ``keyword`` to these messages and nothing else (``+FLAGS.SILENT``: no other
        flag is touched, ``\\Seen`` included); False when the server refused it."""
        if not uids:
            return True
        response = await self._call(
            self._client.uid("store", uid_set(uids), "+FLAGS.SILENT", f"({keyword})")
        )
        return bool(response.result == "OK")

    @property
    def supports_condstore(self) -> bool:
        return "CONDSTORE" in self._client.protocol.capabilities

    @property
    def supports_qresync(self) -> bool:
        return self._qresync

    @property
    def supports_idle(self) -> bool:
        return "IDLE" in self._client.protocol.capabilities

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait until the server reports a change (IDLE), or ``timeout`` passes.

        A NOOP first: whatever arrived since the last command is told now (RFC 3501 §6.1.2),
        so a change made while the last round ran is never left for the next one. Without
        IDLE the folder polls: the wait is the whole ``timeout``, then a NOOP lets the
        server tell what changed meanwhile.
        """
        noop = await self._call(self._client.noop())
        if self._change_seen or is_change(noop.lines):
            self._change_seen = False
            return True
        if not self.supports_idle:
            await self._pause(timeout)
            noop = await self._call(self._client.noop())
            changed = self._change_seen or is_change(noop.lines)
            self._change_seen = False
            return changed
        try:
            idle = await self._client.idle_start(timeout=timeout)
            changed = await self._idle_until_change(timeout)
            self._client.idle_done()
            await asyncio.wait_for(idle, float(self._client.timeout))
        except (OSError, TimeoutError, aioimaplib.AioImapException) as error:
            raise MailServerError(f"the connection was lost: {error}", permanent=False) from error
        # What the receiver noted during IDLE is this same change: the caller now looks.
        self._change_seen = False
        return changed

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``; a connection dropped meanwhile ends the wait as an error."""
        # asyncio.wait, not wait_for: the shared future must not be cancelled at the end.
        done, _ = await asyncio.wait({self._lost.closed}, timeout=seconds)
        if done:
            raise MailServerError("the server closed the connection", permanent=False)

    async def _idle_until_change(self, timeout: float) -> bool:
        """Read what IDLE pushes until it reports a change (True) or ``timeout`` passes.

        Anything else the server pushes goes on within the same IDLE: above all its
        keepalive (Dovecot's ``* OK Still here``, every two minutes), which reports nothing.
        Ending IDLE there would cost every idle folder a round of commands and transactions
        per keepalive (a thousand folders, thousands of each), while a change inside IDLE is
        always pushed (RFC 2177), and ``news_in`` hears it in any response line.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            push = await self._push_or_loss(remaining)
            if is_change(push) or self._change_seen:
                return True
            if not push or push == aioimaplib.STOP_WAIT_SERVER_PUSH or isinstance(push, str):
                return False  # the time is up
        return False

    async def _push_or_loss(self, timeout: float) -> Sequence[bytes | bytearray] | str:
        """What IDLE pushes first; a dropped connection or a BYE ends the wait as an error."""
        # aioimaplib's ``wait_server_push``, without the task ``wait_for`` adds: every
        # keepalive of every idle folder comes through here.
        pushed = asyncio.ensure_future(self._client.protocol.idle_queue.get())
        closed = self._lost.closed
        done, _ = await asyncio.wait(
            {pushed, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if pushed not in done:
            pushed.cancel()
            if closed in done:
                raise MailServerError("the server closed the connection", permanent=False)
            return []
        push: Sequence[bytes | bytearray] | str = pushed.result()
        if not isinstance(push, str) and any(bytes(line).startswith(b"BYE") for line in push):
            raise MailServerError("the server is shutting down", permanent=False)
        return push

    async def special_use_folder(self, attribute: str) -> str | None:
        """The folder the server marks with ``attribute`` (``\\Sent`` …, RFC 6154), if any."""
        special_use = "SPECIAL-USE" in self._client.protocol.capabilities
        # With SPECIAL-USE, only the special-use folders are listed.
        listed = await self.list_folders(special_use_only=special_use)
        return folder_with_attribute(listed or [], attribute)

    async def _folder_exists(self, folder: str) -> bool:
        """Whether LIST names ``folder`` (selectable or not); True if LIST is refused."""
        listed = await self.list_folders(pattern=_quoted(to_wire(folder)))
        return listed is None or any(name == folder for _, name in listed)

    async def list_folders(
        self, *, special_use_only: bool = False, pattern: str = '"*"'
    ) -> list[tuple[frozenset[str], str]] | None:
        """(attributes, name) of the account's folders (LIST "" "*"); None if refused."""
        arguments = ['""', pattern]
        if special_use_only:
            arguments.insert(0, "(SPECIAL-USE)")
        command = aioimaplib.Command(
            "LIST", self._client.protocol.new_tag(), *arguments, loop=self._client.protocol.loop
        )
        response = await self._call(
            asyncio.wait_for(self._client.protocol.execute(command), self._client.timeout)
        )
        if response.result != "OK":
            return None
        return parse_list(response.lines)

    async def append(self, folder: str, raw: bytes) -> None:
        """Store ``raw`` in ``folder`` as read (the copy of sent email)."""
        response = await self._call(
            self._client.append(raw, mailbox=_quoted(to_wire(folder)), flags="(\\Seen)")
        )
        if response.result != "OK":
            raise MailServerError(f"the folder {folder!r} refused the copy", permanent=True)

    async def close(self) -> None:
        if self._lost.is_set():
            return  # nothing to log out of: LOGOUT would only wait out its timeout
        # The connection is going away anyway: a failed LOGOUT changes nothing.
        with contextlib.suppress(OSError, TimeoutError, aioimaplib.AioImapException):
            if self._client.has_pending_idle():
                self._client.idle_done()  # LOGOUT waits behind an unfinished IDLE
            await asyncio.wait_for(self._client.logout(), 2)

    async def _call(self, command: Awaitable[_T]) -> _T:
        """Run one command; a dropped connection ends it at once, not at its timeout."""
        if self._lost.is_set():
            if inspect.iscoroutine(command):
                command.close()  # never started: nothing to wait for
            raise MailServerError("the connection was lost", permanent=False)
        running = asyncio.ensure_future(command)
        either: set[asyncio.Future[Any]] = {running, self._lost.closed}
        try:
            done, _ = await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if running not in done:
                running.cancel()
                raise MailServerError("the server closed the connection", permanent=False)
            return running.result()
        except (OSError, TimeoutError, aioimaplib.AioImapException) as error:
            raise MailServerError(f"the connection was lost: {error}", permanent=False) from error


def _answer(response: Any) -> str:
    """The server's tagged answer, as told in an error: its result and first line."""
    text = bytes(response.lines[-1]).decode("utf-8", "replace") if response.lines else ""
    return first_line(f"{response.result} {text}".strip(), _ANSWER_LIMIT)


def _searched(response: Any) -> None:
    """Raise unless the UID SEARCH succeeded: its answer is then no list of UIDs at all."""
    if response.result != "OK":
        text = f"the server refused the search: {_answer(response)}"
        raise MailServerError(text, permanent=False)


def _quoted(folder: str) -> str:
    escaped = folder.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
