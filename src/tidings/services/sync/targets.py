"""Which folders sync should be following now: every enabled mailbox's Inbox and tracked
folders, each with the credential it logs in with."""

from __future__ import annotations

from collections.abc import Callable

from tidings.domain.credentials import Credential, CredentialKey, Direction, credential_keys
from tidings.domain.errors import SecretError
from tidings.domain.folders import INBOX
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.domain.settings import EmailProcessing
from tidings.services.credentials import with_client_secret
from tidings.services.ports import SecretBox, UnitOfWork
from tidings.services.sync.model import SYNCED_KINDS, SyncTarget


class SyncTargets:
    """Reads the sync targets, every few seconds, for any number of mailboxes.

    Always in the same few queries, and each sealed password is opened once: the time this
    holds the interpreter is time every folder task waits. Most reads find nothing changed:
    a digest of what the targets are made of (``targets_mark``) is read first, and the
    targets themselves only when it differs from the last one's.
    """

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        secrets: SecretBox,
        kinds: frozenset[ServerProfileKind] = SYNCED_KINDS,
    ) -> None:
        self._uow = uow_factory
        self._secrets = secrets
        #: The profile kinds this process has adapters for.
        self._kinds = kinds
        #: Passwords opened, by sealed value: a refresh decrypts only what changed.
        self._opened: dict[str, str] = {}
        #: Mailboxes left out by the last ``load``: their credential cannot be opened (the
        #: key that sealed it is gone), with why. One such mailbox never stops the others.
        self.unreadable: dict[int, str] = {}
        #: The last targets read, with the digest read before them.
        self._last: tuple[str, list[SyncTarget]] | None = None

    def load(self) -> list[SyncTarget]:
        with self._uow() as uow:
            # Read before the targets: a change committed in between is in what is read
            # and makes the next digest differ, so at worst the targets are read again.
            mark = uow.sync.targets_mark()
            if self._last is not None and self._last[0] == mark:
                return self._last[1]
            config = uow.settings.get()
            if config.processing is not EmailProcessing.SERVER_SIDE_SYNC:
                self._last = (mark, [])
                return []
            profiles = {p.id: p for p in uow.server_profiles.all()}
            credentials = uow.sync.sealed_credentials()
            tracked = uow.sync.tracked_folders() if config.folder_level_tracking else {}
            mailboxes = uow.sync.enabled_mailboxes()
        found = []
        unreadable: dict[int, str] = {}
        for mailbox in mailboxes:
            approved = mailbox.is_approved or not config.process_only_approved_mailboxes
            if not (mailbox.syncs_incoming and approved and mailbox.profile_id):
                continue
            profile = profiles.get(mailbox.profile_id)
            if profile is None or profile.kind not in self._kinds:
                continue
            assert mailbox.id is not None  # noqa: S101 - loaded from storage
            try:
                credential = self._credential(credentials, profile, mailbox.id)
            except SecretError as error:
                unreadable[mailbox.id] = str(error)
                continue
            if credential is None:
                continue
            folders = [INBOX]
            if profile.kind is not ServerProfileKind.POP3_SMTP:  # POP3 has no folders
                folders += tracked.get(mailbox.id, [])
            found += [
                SyncTarget(mailbox.id, mailbox.address, folder, profile, credential)
                for folder in folders
            ]
        self.unreadable = unreadable
        self._last = (mark, found)
        return found

    def _credential(
        self,
        credentials: dict[CredentialKey, tuple[str, str]],
        profile: ServerProfile,
        mailbox_id: int,
    ) -> Credential | None:
        for key in credential_keys(profile, mailbox_id, Direction.INCOMING):
            if key in credentials:
                username, sealed = credentials[key]
                credential = Credential(username, self._open(sealed))
                # An OAuth mailbox's refresh token goes with its profile's client secret.
                return with_client_secret(credential, profile, credentials.get, self._open)
        return None

    def _open(self, sealed: str) -> str:
        if sealed not in self._opened:
            self._opened[sealed] = self._secrets.open(sealed)
        return self._opened[sealed]
