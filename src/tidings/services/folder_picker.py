"""The folder picker of folder-level tracking: the mailbox's real folders, read from its
server through a ``FolderLister`` (IMAP LIST, a mail API's folder listing: Graph's mail
folders, EWS FindFolder, Gmail's labels). A POP3 mailbox has only its Inbox: nothing to list.

When the server cannot be reached, the picker says why and the folder's name may be typed
instead; the tracking rules themselves are kept by ``personal_options.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from tidings.domain.credentials import Credential, Direction
from tidings.domain.errors import MailServerError, NotFoundError
from tidings.domain.folders import is_inbox
from tidings.domain.mailbox import Mailbox
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.services.credentials import load_credential
from tidings.services.ports import SecretBox, UnitOfWork


class FolderLister(Protocol):
    """Reads the folder names of a mailbox from its server, logged in as sync would."""

    async def list_folders(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> list[str]: ...


@dataclass(frozen=True)
class ServerFolders:
    """The folders a picker offers (never the Inbox: it is always tracked), or why none."""

    names: list[str]
    problem: str | None = None
    #: The server has no folders besides the Inbox (POP3): folder rules do not apply.
    inbox_only: bool = False


class FolderPicker:
    """The server's folders of one mailbox, for its owner or a mailbox administrator."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        secrets: SecretBox,
        lister: FolderLister,
        api_listers: Mapping[ServerProfileKind, FolderLister] | None = None,
    ) -> None:
        self._uow = uow_factory
        self._secrets = secrets
        self._lister = lister
        self._api_listers = dict(api_listers or {})

    async def server_folders(self, caller: Caller, mailbox_id: int) -> ServerFolders:
        with self._uow() as uow:
            mailbox = uow.mailboxes.get(mailbox_id)
            if mailbox is None:
                raise NotFoundError(f"no mailbox with id {mailbox_id}")
            _may_pick(caller, mailbox)
            profile = uow.server_profiles.get(mailbox.profile_id) if mailbox.profile_id else None
            credential = (
                load_credential(uow, self._secrets, profile, mailbox_id, Direction.INCOMING)
                if profile is not None
                else None
            )
        if profile is None:
            return ServerFolders([], "the mailbox has no email server profile to ask")
        if profile.kind is ServerProfileKind.POP3_SMTP:
            return ServerFolders([], inbox_only=True)
        lister = self._api_listers.get(profile.kind, self._lister)
        try:
            names = await lister.list_folders(profile, credential, mailbox.address)
        except MailServerError as error:
            return ServerFolders([], f"the server's folders could not be read: {error}")
        return ServerFolders([name for name in names if not is_inbox(name)])


def _may_pick(caller: Caller, mailbox: Mailbox) -> None:
    """The owner sees their own mailbox's folders; others need to read mailboxes, as they
    do to read its folder rules (changing the rules is checked where they are saved)."""
    own = caller.user.id is not None and mailbox.owner == RecordRef(RecordKind.USER, caller.user.id)
    if not own:
        caller.require(Privilege.READ_MAILBOXES)
