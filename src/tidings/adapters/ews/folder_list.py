"""The folders of an Exchange Server mailbox for folder-level tracking's picker: every mail
folder under the top of the mailbox (msgfolderroot) by its display-name path
("Projects/Contoso"), the names ``session.find_folder`` resolves one level at a time.

One FindFolder with Traversal="Deep" from msgfolderroot, page by page (exchangelib follows
IndexedPagingOffset), asking for each folder's display name, class and parent:
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/findfolder-operation
and for the MAPI property PR_ATTR_HIDDEN (PidTagAttributeHidden, 0x10F4, Boolean) as an
ExtendedFieldURI: a folder Outlook does not show (search roots, sync state, conversation
settings ...) is not offered either, nor what lies below it.
https://learn.microsoft.com/en-us/office/client-developer/outlook/mapi/pidtagattributehidden-canonical-property
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/extendedfielduri
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exchangelib.extended_properties import ExtendedProperty
from exchangelib.fields import ExtendedPropertyField, FieldPath, InvalidField
from exchangelib.folders import Folder, FolderCollection
from exchangelib.folders.queryset import DEEP
from exchangelib.items import ID_ONLY

from tidings.adapters.ews.account import mailbox_context, open_mailbox
from tidings.adapters.ews.threads import in_thread
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.credentials import Credential
from tidings.domain.server_profile import ServerProfile

#: Enough for any mailbox a person files by hand; a picker of more would not be read.
MAX_FOLDERS = 2_000
#: Folders of email (folder:FolderClass); calendars, contacts and tasks hold none.
MAIL_CLASS = "IPF.Note"
#: Folder's registered field for PR_ATTR_HIDDEN.
HIDDEN = "hidden_from_outlook"
_FIELDS = ("name", "folder_class", "parent_folder_id", HIDDEN)


class HiddenFromOutlook(ExtendedProperty):  # type: ignore[misc]
    """PR_ATTR_HIDDEN: true on a folder Outlook does not show."""

    property_tag = 0x10F4
    property_type = "Boolean"


class _ListedExtendedField(ExtendedPropertyField):  # type: ignore[misc]
    """An extended property FindFolder may return. exchangelib takes every extended property
    for one only GetFolder returns, yet FindFolder's AdditionalProperties take an
    ExtendedFieldURI like any other property path."""

    is_complex = False


def _register_hidden() -> None:
    # exchangelib keeps extended properties on the Folder class itself, once per process, as
    # Folder.register does (which would make the field one FindFolder cannot ask for).
    try:
        Folder.get_field_by_fieldname(HIDDEN)
    except InvalidField:
        HiddenFromOutlook.validate_cls()
        field = _ListedExtendedField(HIDDEN, value_cls=HiddenFromOutlook)
        Folder.add_field(field, insert_after=Folder.INSERT_AFTER_FIELD)


_register_hidden()


@dataclass(frozen=True)
class FolderEntry:
    """One folder FindFolder listed."""

    name: str
    parent: str | None
    folder_class: str | None
    #: PR_ATTR_HIDDEN: Outlook does not show it.
    hidden: bool = False


class EwsFolderLister:
    """Lists an Exchange Server mailbox's mail folders as the profile's account sees them."""

    def __init__(self, tokens: GraphTokens | None = None) -> None:
        #: Where OAuth profiles' access tokens come from.
        self._tokens = tokens or GraphTokens()

    async def list_folders(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> list[str]:
        """Every mail folder's path, sorted; ``MailServerError`` as Exchange's errors say."""

        def run() -> list[str]:
            mailbox = open_mailbox(profile, credential, address, tokens=self._tokens)
            try:
                return _paths(mailbox.account)
            finally:
                mailbox.close()

        return sorted(await in_thread(mailbox_context(profile, address), run))


def _paths(account: Any) -> list[str]:
    top = account.msg_folder_root
    fields = {FieldPath(field=Folder.get_field_by_fieldname(name)) for name in _FIELDS}
    found = FolderCollection(account=account, folders=[top]).find_folders(
        shape=ID_ONLY, depth=DEEP, additional_fields=fields, max_items=MAX_FOLDERS
    )
    folders: dict[str, FolderEntry] = {}
    for folder in found:
        if isinstance(folder, Exception):
            raise folder
        parent = folder.parent_folder_id.id if folder.parent_folder_id else None
        hidden = getattr(folder, HIDDEN, None) is True
        folders[folder.id] = FolderEntry(folder.name or "", parent, folder.folder_class, hidden)
    return folder_paths(folders, top.id)


def folder_paths(folders: dict[str, FolderEntry], top: str) -> list[str]:
    """The display-name paths of the mail folders among ``folders`` (by id) below ``top``.
    A folder whose path cannot be written one level per name (a name holding "/", or a
    parent not listed) is left out with what lies below it: sync could not find it by it.
    So is a folder hidden from Outlook: its owner never sees it to file email there."""
    paths: dict[str, str | None] = {top: ""}
    for start in folders:
        chain: list[str] = []
        folder_id: str | None = start
        while folder_id is not None and folder_id not in paths and folder_id not in chain:
            chain.append(folder_id)
            entry = folders.get(folder_id)
            folder_id = entry.parent if entry is not None else None
        above = paths.get(folder_id) if folder_id is not None else None
        for link in reversed(chain):  # from the topmost down
            entry = folders.get(link)
            name = entry.name if entry is not None else ""
            hidden = entry is not None and entry.hidden
            usable = above is not None and name and "/" not in name and not hidden
            above = (f"{above}/{name}" if above else name) if usable else None
            paths[link] = above
    return [
        path
        for folder_id, entry in folders.items()
        if _is_mail(entry.folder_class) and (path := paths.get(folder_id))
    ]


def _is_mail(folder_class: str | None) -> bool:
    # A folder made without a class (by some clients) is a generic mail folder to Outlook.
    return not folder_class or folder_class == MAIL_CLASS or folder_class.startswith("IPF.Note.")
