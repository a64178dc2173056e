"""Finding a mailbox folder's id: the Inbox by its well-known name, any other folder by its
display-name path ("Projects/Contoso"), one level at a time with ``$filter``
(learn.microsoft.com/graph/api/user-list-mailfolders, .../mailfolder-list-childfolders)."""

from __future__ import annotations

from tidings.adapters.graph.client import GraphClient
from tidings.adapters.graph.contract import quote_odata
from tidings.domain.errors import FolderMissingError

READ_PERMISSION = "Mail.ReadWrite"


async def find_folder_id(client: GraphClient, folder: str) -> str:
    """The id of ``folder`` ("INBOX" or a display-name path) in the client's mailbox."""
    if folder.upper() == "INBOX":
        inbox = await client.get_json(
            f"{client.user_url}/mailFolders/inbox", permission=READ_PERMISSION
        )
        return str(inbox["id"])
    url = f"{client.user_url}/mailFolders"
    found = ""
    for name in (part for part in folder.split("/") if part):
        body = await client.get_json(
            url,
            permission=READ_PERMISSION,
            params={"$filter": f"displayName eq {quote_odata(name)}"},
        )
        matches = body.get("value")
        if not isinstance(matches, list) or not matches:
            raise FolderMissingError(
                f"the mailbox {client.address} has no folder '{folder}': check the folder "
                "tracking rule's path (display names joined by '/')"
            )
        found = str(matches[0]["id"])
        url = f"{client.user_url}/mailFolders/{found}/childFolders"
    return found
