"""Emails a server lists but does not hand over.

A FETCH may come back without a message it was asked for, or not come back at all:

- the message was expunged meanwhile (Dovecot answers ``BODY[] NIL`` for one expunged
  behind the session, RFC 3501 §7.4.2): it is gone, and passing it over loses nothing;
- the server could not read it: Dovecot ends the connection ("FETCH failed: Internal
  error") for a message file it cannot open, Gmail answers "NO Some messages could not be
  FETCHed (Failure)", Exchange leaves out an item it cannot convert. The message is still
  there, and may come on a later try.

The cursor must not pass such a message while it may yet come, nor stop behind it for good:
every email after it would wait too. So a folder in trouble is fetched one message a command
up to the last UID of the fetch that failed, which finds the message that will not come;
that one is tried again, each time after the folder's back-off, and after ``tries`` failed
tries it is passed over, with an alert that names it. Its neighbours are tracked meanwhile.

A mail API (Exchange Web Services) may likewise answer one item with an error of its own,
ErrorMimeContentConversionFailed for a corrupted item: its folder's cursor waits the same
way, and the item is passed over after the same tries. A POP3 server answers ``-ERR`` for
one message (Dovecot: "Message 2 expunged" for one it cannot read): the poll takes the
rest, tries that one last at each poll, and passes over it after the same tries.

What each folder has tried is kept in memory: a worker that starts again tries again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidings.services.sync.model import SyncTarget

#: Failed tries of one message, each after the folder's back-off, before it is passed over.
TRIES = 8

FolderKey = tuple[int, str]

#: Told of an email passed over for good: the folder, which email ("UID 7", "id …"), and
#: what the server said of it.
PassedOver = Callable[["SyncTarget", str, str], Awaitable[None]]


@dataclass
class _Trouble:
    #: The folder's UIDVALIDITY: under another, its UIDs name other messages.
    uidvalidity: int
    #: Fetch one message a command up to and including this UID.
    careful_through: int
    #: Failed tries of each message fetched alone.
    tries: dict[int, int] = field(default_factory=dict)


class WithheldMail:
    """Which folders fetch carefully, and how often each withheld message was tried."""

    def __init__(self, tries: int = TRIES) -> None:
        self._tries = tries
        self._trouble: dict[FolderKey, _Trouble] = {}
        #: Mail APIs and POP3 name each message for good: failed tries by folder and id.
        self._item_tries: dict[FolderKey, dict[str, int]] = {}
        #: Those passed over: POP3 lists them again at every poll, and they stay passed.
        self._passed_items: dict[FolderKey, set[str]] = {}

    def troubled(self, key: FolderKey, uidvalidity: int) -> bool:
        """Whether the folder is finding a message that did not come."""
        return self._current(key, uidvalidity) is not None

    def careful_through(self, key: FolderKey, uidvalidity: int) -> int:
        """Up to which UID the folder fetches one message a command (0: none): through the
        last UID of the fetch that failed."""
        trouble = self._current(key, uidvalidity)
        return trouble.careful_through if trouble is not None else 0

    def failed(self, key: FolderKey, uidvalidity: int, uids: Sequence[int]) -> int | None:
        """A fetch did not bring ``uids`` (one message, or a fetch that broke off), though
        the folder still holds them. Returns the UID to pass over, once a message fetched
        alone has failed ``tries`` times; else None: try again after the back-off."""
        if not uids:
            return None
        trouble = self._current(key, uidvalidity)
        if trouble is None:
            trouble = self._trouble[key] = _Trouble(uidvalidity, careful_through=max(uids))
        trouble.careful_through = max(trouble.careful_through, max(uids))
        if len(uids) > 1:
            return None  # which one will not come is found by fetching them one by one
        uid = uids[0]
        tried = trouble.tries.get(uid, 0) + 1
        if tried < self._tries:
            trouble.tries[uid] = tried
            return None
        trouble.tries.pop(uid, None)
        return uid

    def passed(self, key: FolderKey, last_uid: int) -> None:
        """The folder's cursor reached ``last_uid``: what lies below it is done with."""
        trouble = self._trouble.get(key)
        if trouble is None:
            return
        trouble.tries = {uid: n for uid, n in trouble.tries.items() if uid > last_uid}
        if last_uid >= trouble.careful_through:
            del self._trouble[key]

    def item_failed(self, key: FolderKey, item_id: str) -> bool:
        """A mail API did not hand over the message ``item_id`` it still holds; True once
        it has failed ``tries`` times: pass it over."""
        tries = self._item_tries.setdefault(key, {})
        tried = tries.get(item_id, 0) + 1
        if tried < self._tries:
            tries[item_id] = tried
            return False
        tries.pop(item_id, None)
        self._passed_items.setdefault(key, set()).add(item_id)
        return True

    def item_tries(self, key: FolderKey, item_id: str) -> int:
        """How often ``item_id`` failed so far."""
        return self._item_tries.get(key, {}).get(item_id, 0)

    def passed_over(self, key: FolderKey) -> frozenset[str]:
        """The ids of the folder passed over for good."""
        return frozenset(self._passed_items.get(key, ()))

    def items_passed(self, key: FolderKey) -> None:
        """The folder's cursor moved: every message before it is done with."""
        self._item_tries.pop(key, None)
        self._passed_items.pop(key, None)

    def _current(self, key: FolderKey, uidvalidity: int) -> _Trouble | None:
        trouble = self._trouble.get(key)
        if trouble is not None and trouble.uidvalidity != uidvalidity:
            del self._trouble[key]  # the folder starts over: its UIDs name other messages
            return None
        return trouble
