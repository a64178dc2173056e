"""The folder picker of an Exchange Online mailbox: its folders by display-name path, read
through Microsoft Graph level by level and page by page, from the Graph contract fake; a
refused secret is said, and typing a folder's name stays possible."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.builders import Org
from tests.contract.graph_fake import FakeGraphServer
from tests.contract.graph_source import graph_profile, use_graph_profile
from tidings.domain.people import Caller, Privilege

DANA = "dana@northwind.example"


def _admin(org: Org) -> Caller:
    return Caller(org.users["dana"], frozenset(Privilege))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_exchange_online_mailbox_offers_its_folders_by_path(org: Org, tmp_path: Path) -> None:
    with FakeGraphServer(tmp_path) as graph:
        app = graph.add_app(secret="the-right-secret")
        graph.add_mailbox(DANA)
        graph.create_folder(DANA, "Customers/Contoso")
        graph.create_folder(DANA, "Projects")
        # More children than one page of 100 holds: the next link is followed.
        for number in range(105):
            graph.create_folder(DANA, f"Archive/{number:03d}")
        use_graph_profile(org, graph_profile(graph, app), "the-right-secret", ["dana"])
        found = asyncio.run(
            org.tidings.folder_picker.server_folders(_admin(org), org.mailboxes["dana"])
        )
    assert found.problem is None
    assert {"Customers", "Customers/Contoso", "Projects", "Archive"} <= set(found.names)
    assert {f"Archive/{n:03d}" for n in range(105)} <= set(found.names)
    assert not any(name.upper() == "INBOX" for name in found.names)
    assert found.names == sorted(found.names)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_refused_secret_is_said_instead_of_a_list(org: Org, tmp_path: Path) -> None:
    with FakeGraphServer(tmp_path) as graph:
        app = graph.add_app(secret="the-right-secret")
        graph.add_mailbox(DANA)
        use_graph_profile(org, graph_profile(graph, app), "a-wrong-one", ["dana"])
        found = asyncio.run(
            org.tidings.folder_picker.server_folders(_admin(org), org.mailboxes["dana"])
        )
    assert found.names == []
    assert found.problem is not None
    assert found.problem.startswith("the server's folders could not be read: ")
    assert "the client secret was refused" in found.problem
