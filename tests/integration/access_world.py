"""The organization the access tests run in: who is where, holding which role.

Business units Sales and Support under the organization's root unit; Sam and Sue are
Salespeople in Sales, Una holds only the tracking role (Tidings App User) in Sales, Pat has
the Support role in Support and is a member of the queue Help (also in Support); the
administrator is in the root unit. Each has a mailbox with one tracked email in it; the
administrator, Sam and Una each own one account.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient

from tests.builders import Org, make_email
from tidings.bootstrap import Tidings
from tidings.domain.access_levels import AccessLevel, BusinessUnit
from tidings.domain.people import (
    SALESPERSON_ROLE,
    SUPPORT_ROLE,
    SYSTEM_ADMINISTRATOR,
    TRACKING_ROLE,
    Privilege,
    SecurityRole,
)
from tidings.domain.records import Account
from tidings.entrypoints.api.app import create_app
from tidings.entrypoints.web.session import COOKIE
from tidings.services.business_units import ensure_root_unit

PEOPLE = ("admin", "sam", "sue", "una", "pat")
ROLES = {
    "admin": SYSTEM_ADMINISTRATOR,
    "sam": SALESPERSON_ROLE,
    "sue": SALESPERSON_ROLE,
    "una": TRACKING_ROLE,
    "pat": SUPPORT_ROLE,
}


@dataclass
class World:
    org: Org
    clients: dict[str, TestClient]
    #: Each mailbox's one tracked activity, by mailbox name.
    activities: dict[str, int]
    raw: dict[str, int]
    units: dict[str, int]
    accounts: dict[str, int]

    def user_id(self, name: str) -> int:
        user_id = self.org.users[name].id
        assert user_id is not None
        return user_id


def build_world(tidings: Tidings) -> World:
    """The world of the module docstring, with an API client (a bearer token) per person."""
    org = Org.create(tidings)
    with tidings.uow() as uow:
        root = ensure_root_unit(uow, "Northwind")
        units = {
            "sales": uow.directory.add_business_unit(BusinessUnit("Sales", root)),
            "support": uow.directory.add_business_unit(BusinessUnit("Support", root)),
        }
        uow.commit()
    home = {"admin": root, "sam": units["sales"], "sue": units["sales"], "una": units["sales"]}
    home["pat"] = units["support"]
    for name in PEOPLE:
        org.add_user(name, tracking_role=False)
    help_queue = org.add_queue("help")
    with tidings.uow() as uow:
        for name in PEOPLE:
            user = uow.directory.get_user(org.users[name].id or 0)
            assert user is not None
            user.role_ids = frozenset({org.roles[ROLES[name]]})
            user.business_unit_id = home[name]
            uow.directory.save_user(user)
        queue = uow.directory.get_queue(help_queue.id or 0)
        assert queue is not None
        queue.business_unit_id = units["support"]
        queue.member_ids = frozenset({org.users["pat"].id or 0})
        uow.directory.save_queue(queue)
        uow.commit()
    activities, raw = {}, {}
    for n, name in enumerate((*PEOPLE, "help")):
        result = org.deliver(
            make_email(
                to=f"{name}@northwind.example",
                subject=f"For {name}",
                message_id=f"<{name}-{n}@contoso.example>",
                attachments=[(f"{name}.txt", f"for {name}".encode(), "text/plain")],
            ),
            name,
        )
        assert result.activity_id is not None, result
        activities[name], raw[name] = result.activity_id, result.raw_message_id
    clients = {}
    for name in PEOPLE:
        caller = tidings.access.caller_for(f"{name}@northwind.example")
        token = tidings.access.create_api_token(caller, "matrix").token
        client = TestClient(create_app(tidings))
        client.headers["Authorization"] = f"Bearer {token}"
        clients[name] = client
    accounts = {
        name: clients[name].post("/api/accounts", json={"name": f"{name} Ltd"}).json()["id"]
        for name in ("admin", "sam")
    }
    # Una may not create records: her account is given to her by the administrator.
    with tidings.uow() as uow:
        una_account = Account("Una Ltd")
        uow.records.add(una_account, owner_id=org.users["una"].id)
        uow.commit()
    accounts["una"] = una_account.id or 0
    return World(org, clients, activities, raw, units, accounts)


def grant(world: World, name: str, role: str, levels: dict[Privilege, AccessLevel]) -> None:
    """Give ``name`` a further role, ``role``, holding ``levels``, beside the one they have."""
    tidings = world.org.tidings
    with tidings.uow() as uow:
        role_id = uow.directory.add_role(SecurityRole(role).with_levels(levels))
        user = uow.directory.get_user(world.user_id(name))
        assert user is not None
        user.role_ids = user.role_ids | {role_id}
        uow.directory.save_user(user)
        uow.commit()


CONSOLE_BASE = "http://127.0.0.1:8025"


def console_client(tidings: Tidings, email: str | None) -> tuple[TestClient, str]:
    """A console client signed in as ``email`` (through the sign-in service, with a password
    the person sets themselves), and its CSRF token; ``None``: nobody signed in."""
    client = TestClient(create_app(tidings), base_url=CONSOLE_BASE)
    if email is None:
        return client, ""
    password = f"{email}-password"
    tidings.people.set_password(
        tidings.access.caller_for(email), _user_id(tidings, email), password
    )
    signed_in = tidings.access.sign_in(email, password)
    assert signed_in is not None
    client.cookies.set(COOKIE, signed_in.token)
    return client, signed_in.session.csrf_token


def _user_id(tidings: Tidings, email: str) -> int:
    user_id = tidings.access.caller_for(email).user.id
    assert user_id is not None
    return user_id
