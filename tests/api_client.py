"""A signed-in HTTP client for the API app over a test organization."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.builders import Org
from tidings.entrypoints.api.app import create_app

ADMIN = ("ada@northwind.example", "ada-admin-pass")
READER = ("rita@northwind.example", "rita-reader-pass")


def admin_client(org: Org) -> TestClient:
    """A client signed in (HTTP Basic) as a System Administrator of ``org``."""
    org.tidings.setup.add_user("Ada Admin", ADMIN[0], ["admin"], ADMIN[1])
    client = TestClient(create_app(org.tidings))
    client.auth = ADMIN
    return client


def tracking_client(org: Org) -> TestClient:
    """A client signed in as a user holding only the tracking role."""
    org.tidings.setup.add_user("Rita Reader", READER[0], ["tracking"], READER[1])
    client = TestClient(create_app(org.tidings))
    client.auth = READER
    return client
