"""The folders of an Exchange Online mailbox for folder-level tracking's picker: every mail
folder by its display-name path ("Projects/Contoso"), as folder rules name them, read level
by level through Microsoft Graph (learn.microsoft.com/graph/api/user-list-mailfolders,
.../mailfolder-list-childfolders), following ``@odata.nextLink``."""

from __future__ import annotations

from tidings.adapters.graph.client import GraphClient
from tidings.adapters.graph.folders import READ_PERMISSION
from tidings.adapters.graph.settings import graph_settings
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.credentials import Credential
from tidings.domain.server_profile import ServerProfile

#: Enough for any mailbox a person files by hand; a picker of more would not be read.
MAX_FOLDERS = 2_000
#: Outlook nests folders deeper than this only by accident.
MAX_DEPTH = 16


class GraphFolderLister:
    """Lists an Exchange Online mailbox's folders with the app's Graph credential."""

    def __init__(self, tokens: GraphTokens) -> None:
        self._tokens = tokens

    async def list_folders(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> list[str]:
        """Every folder's path, sorted; ``MailServerError`` as Graph's errors say."""
        client = GraphClient(self._tokens, graph_settings(profile, credential), profile, address)
        try:
            paths: list[str] = []
            await _walk(client, f"{client.user_url}/mailFolders", "", 0, paths)
        finally:
            await client.aclose()
        return sorted(paths)


async def _walk(client: GraphClient, url: str, prefix: str, depth: int, paths: list[str]) -> None:
    link: str | None = url
    params: dict[str, str] | None = {"$top": "100"}
    while link and len(paths) < MAX_FOLDERS:
        body = await client.get_json(link, permission=READ_PERMISSION, params=params)
        params = None  # a next link carries its own query
        found = body.get("value")
        for folder in found if isinstance(found, list) else []:
            name = str(folder.get("displayName", "")).replace("/", "")
            if not name or folder.get("isHidden"):
                continue
            paths.append(prefix + name)
            if folder.get("childFolderCount") and depth + 1 < MAX_DEPTH:
                children = f"{client.user_url}/mailFolders/{folder['id']}/childFolders"
                await _walk(client, children, f"{prefix}{name}/", depth + 1, paths)
        next_link = body.get("@odata.nextLink")
        link = next_link if isinstance(next_link, str) else None
