"""Fixtures of the contract tests: a running Graph fake with one app and two mailboxes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.graph_fake import FakeApp, FakeGraphServer

SECRET = "graph-app-secret"
MAILBOXES = ("dana@northwind.example", "sam@northwind.example")


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[FakeGraphServer]:
    with FakeGraphServer(tmp_path / "graph") as running:
        for address in MAILBOXES:
            running.add_mailbox(address)
        yield running


@pytest.fixture
def graph_app(graph: FakeGraphServer) -> FakeApp:
    return graph.add_app(secret=SECRET)
