"""Who sees and changes what: every shipped security role against every API endpoint that
reads or changes activities, mailboxes, records, options, explanations or webhooks.

The world: business units Sales and Support under the organization's root unit; Sam and Sue
are Salespeople in Sales, Una holds only the tracking role (Tidings App User) in Sales, Pat
has the Support role in Support and is a member of the queue Help (also in Support). Each
has a mailbox with one tracked email in it; Sam and Una each own one account.

The endpoint list is read from the app's routes: a new endpoint without an entry here (or in
``NOT_SCOPED``, with the reason it reads nothing record-scoped) fails the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.builders import make_email
from tests.conftest import TickingClock, settings_for
from tests.integration.access_world import PEOPLE, World, build_world
from tests.routes import all_routes
from tidings.bootstrap import Tidings, bootstrap
from tidings.domain.people import TRACKING_ROLE
from tidings.entrypoints.api.app import create_app


@pytest.fixture
def tidings(database_url: str) -> Iterator[Tidings]:
    # Webhook receivers on loopback are allowed: subscriptions are made, never delivered.
    app = bootstrap(settings_for(database_url, webhook_allow_private=True), clock=TickingClock())
    yield app
    app.close()


@pytest.fixture
def world(tidings: Tidings) -> World:
    return build_world(tidings)


Check = Callable[[World, str], None]


def _see_activities(expected: dict[str, set[str]]) -> Check:
    def check(w: World, who: str) -> None:
        page = w.clients[who].get("/api/activities", params={"limit": 500})
        assert page.status_code == 200, page.text
        subjects = {item["subject"] for item in page.json()["items"]}
        assert subjects == {f"For {m}" for m in expected[who]}, who
        assert page.json()["total"] == len(expected[who])

    return check


#: Which tracked email each role sees (list, count and detail).
SEES = {
    "admin": {"admin", "sam", "sue", "una", "pat", "help"},
    # Salesperson: Business unit read — everyone in Sales.
    "sam": {"sam", "sue", "una"},
    "sue": {"sam", "sue", "una"},
    # Tidings App User: User level — her own mailbox only.
    "una": {"una"},
    # Support: User level, and the queue she is a member of.
    "pat": {"pat", "help"},
}


def test_each_role_lists_and_counts_exactly_the_activities_in_reach(world: World) -> None:
    for who in PEOPLE:
        _see_activities(SEES)(world, who)


@pytest.mark.parametrize("who", PEOPLE)
def test_reading_an_activity_out_of_reach_is_not_found(world: World, who: str) -> None:
    # Detail, body of the conversation and the explanation: 200 within reach, else 404.
    client = world.clients[who]
    for mailbox, activity_id in world.activities.items():
        expected = 200 if mailbox in SEES[who] else 404
        response = client.get(f"/api/activities/{activity_id}")
        assert response.status_code == expected, (who, mailbox, response.text)
        if expected == 200:
            trace = response.json()["trace"]
            assert trace is not None
        attachment = client.get(f"/api/activities/{activity_id}/attachments/1")
        assert attachment.status_code == expected, (who, mailbox, attachment.text)
        if expected == 200:
            assert attachment.content == f"for {mailbox}".encode()
        conversation = response.json().get("conversation_id") if expected == 200 else None
        if conversation:
            assert client.get(f"/api/conversations/{conversation}").status_code == 200


def test_a_conversation_shows_only_its_activities_in_reach(world: World) -> None:
    # Maria writes to Sam, then answers in the same thread to Pat only: one conversation,
    # whose first email is Sam's (Sales) and whose answer is Pat's (Support).
    first = make_email(to="sam@northwind.example", subject="Thread", message_id="<t1@c.example>")
    sam_copy = world.org.deliver(first, "sam")
    answer = make_email(
        to="pat@northwind.example",
        subject="Re: Thread",
        message_id="<t2@c.example>",
        in_reply_to="<t1@c.example>",
        references="<t1@c.example>",
    )
    world.org.deliver(answer, "pat")
    admin = world.clients["admin"].get(f"/api/activities/{sam_copy.activity_id}").json()
    conversation = admin["conversation_id"]

    def total(who: str) -> int | None:
        response = world.clients[who].get(f"/api/conversations/{conversation}")
        return response.json()["total"] if response.status_code == 200 else None

    assert {who: total(who) for who in PEOPLE} == {
        "admin": 2,
        "sam": 1,
        "sue": 1,
        "una": None,
        "pat": 1,
    }


def test_mailboxes_are_listed_and_read_within_reach(world: World) -> None:
    listed = {
        who: {m["address"].split("@")[0] for m in world.clients[who].get("/api/mailboxes").json()}
        for who in PEOPLE
    }
    assert listed["admin"] >= {"admin", "sam", "sue", "una", "pat", "help"}
    # Salesperson and App User read their own mailbox only (User level).
    assert listed["sam"] == {"sam"}
    assert listed["una"] == {"una"}
    # Support: one's own and the queues one is a member of.
    assert listed["pat"] == {"pat", "help"}
    help_id = world.org.mailboxes["help"]
    assert world.clients["pat"].get(f"/api/mailboxes/{help_id}").status_code == 200
    assert world.clients["una"].get(f"/api/mailboxes/{help_id}").status_code == 404
    assert world.clients["sam"].get(f"/api/mailboxes/{help_id}").status_code == 404


def test_records_are_read_and_changed_within_reach(world: World) -> None:
    # Salesperson: read in the unit, write their own; App User: read their own.
    def names(who: str) -> set[str]:
        page = world.clients[who].get("/api/accounts", params={"limit": 100})
        assert page.status_code == 200, page.text
        assert page.json()["total"] == len(page.json()["items"])
        return {a["name"] for a in page.json()["items"]}

    assert names("admin") >= {"admin Ltd", "sam Ltd", "Una Ltd", "Contoso"}
    assert names("sam") == {"sam Ltd", "Una Ltd"}
    assert names("una") == {"Una Ltd"}
    # Pat (Support, Business unit read) is in Support: nobody there owns an account.
    assert names("pat") == set()
    una_account = world.accounts["una"]
    assert world.clients["sam"].get(f"/api/accounts/{una_account}").status_code == 200
    # Sam writes only his own: Una's account is out of his write reach.
    changed = world.clients["sam"].patch(f"/api/accounts/{una_account}", json={"name": "X"})
    assert changed.status_code == 404
    own = world.clients["sam"].patch(f"/api/accounts/{world.accounts['sam']}", json={"name": "S"})
    assert own.status_code == 200
    assert world.clients["una"].get(f"/api/accounts/{world.accounts['admin']}").status_code == 404
    assert world.clients["sue"].delete(f"/api/accounts/{world.accounts['sam']}").status_code == 404


def test_an_activity_regarding_a_record_one_owns_is_ones_own(world: World) -> None:
    # Una owns "Una Ltd": the email in Sue's mailbox regarding it becomes visible to her.
    admin = world.clients["admin"]
    sue_activity = world.activities["sue"]
    una = world.clients["una"]
    assert una.get(f"/api/activities/{sue_activity}").status_code == 404
    regarding = f"account:{world.accounts['una']}"
    assert (
        admin.put(
            f"/api/activities/{sue_activity}/regarding", json={"regarding": regarding}
        ).status_code
        == 200
    )
    assert una.get(f"/api/activities/{sue_activity}").status_code == 200
    assert una.get("/api/activities").json()["total"] == 2


def test_personal_options_are_ones_own_unless_the_level_reaches_further(world: World) -> None:
    sam_id = world.user_id("sam")
    assert world.clients["sam"].get(f"/api/users/{sam_id}/options").status_code == 200
    assert world.clients["una"].get(f"/api/users/{sam_id}/options").status_code == 404
    assert world.clients["admin"].get(f"/api/users/{sam_id}/options").status_code == 200
    changed = world.clients["una"].patch(
        f"/api/users/{sam_id}/options", json={"track_incoming": "no_email_messages"}
    )
    assert changed.status_code == 404


def test_an_explanation_is_as_private_as_the_email(world: World) -> None:
    # The console's explain page by Message-ID: Una's search for Sam's email finds nothing.
    sam_raw = world.raw["sam"]
    tidings = world.org.tidings
    una = tidings.access.caller_for("una@northwind.example")
    from tidings.domain.people import Privilege

    scope = una.scope(Privilege.READ_ACTIVITIES)
    assert tidings.explain.by_message_id("<sam-1@contoso.example>", scope) == []
    assert len(tidings.explain.by_message_id("<una-3@contoso.example>", scope)) == 1
    with pytest.raises(Exception, match="no stored email"):
        tidings.explain.by_raw_id(sam_raw, scope)


def test_webhooks_deliver_only_events_their_owner_may_read(world: World) -> None:
    # A subscription made by a User-level owner hears of that owner's activities only.
    tidings = world.org.tidings
    with tidings.uow() as uow:
        user = uow.directory.get_user(world.user_id("una"))
        assert user is not None
        from tidings.domain.people import Privilege

        role = uow.directory.roles()[world.org.roles[TRACKING_ROLE]]
        levels = {p: role.level_of(p) for p in role.privileges}
        levels[Privilege.WRITE_SETTINGS] = levels[Privilege.READ_SETTINGS] = role.level_of(
            Privilege.TRACK_EMAIL
        ).__class__.ORGANIZATION
        uow.directory.save_role(role.with_levels(levels))
        uow.commit()
    una = tidings.access.caller_for("una@northwind.example")
    admin = tidings.access.caller_for("admin@northwind.example")
    tidings.webhooks.dispatch()  # the events of the set-up go to nobody yet
    mine = tidings.webhooks.create(una, "https://127.0.0.1:9/una", ["activity.created"])
    everyone = tidings.webhooks.create(admin, "https://127.0.0.1:9/all", ["activity.created"])
    world.org.deliver(make_email(to="una@northwind.example", message_id="<w1@c.example>"), "una")
    world.org.deliver(make_email(to="sam@northwind.example", message_id="<w2@c.example>"), "sam")
    tidings.webhooks.dispatch()
    una_got = tidings.webhooks.deliveries(admin, mine.subscription.id or 0)
    all_got = tidings.webhooks.deliveries(admin, everyone.subscription.id or 0)
    assert len(una_got) == 1
    assert len(all_got) == 2


_ACTIVITY = "activities: scoped by read/write_activities (tests above)"
_RECORD = "records: scoped by read/write_records (test above; one code path for every kind)"
_IMPORT = "bulk import: write_records at Organization level only"
_MAILBOX = "mailboxes: scoped by read/write_mailboxes (test above)"
_ORG = "organization-wide administration, all or nothing"
_EMAIL = "email written in the CRM: one's own mailbox or a queue one may send as; else 404"

#: Every API route, exactly, with how access to it is decided and where that is tested.
ACCESS = {
    "/api/activities": _ACTIVITY,
    "/api/activities/track": "tracking by hand: one's own copy, else within write_activities",
    "/api/activities/{activity_id}": _ACTIVITY,
    "/api/activities/{activity_id}/regarding": _ACTIVITY,
    "/api/activities/{activity_id}/untrack": _ACTIVITY,
    "/api/activities/{activity_id}/attachments/{number}": _ACTIVITY,
    "/api/conversations/{conversation_id}": _ACTIVITY,
    **{f"/api/{kind}": _RECORD for kind in ("accounts", "contacts", "leads", "opportunities")},
    **{f"/api/{kind}/{{record_id}}": _RECORD for kind in ("accounts", "contacts", "leads")},
    "/api/opportunities/{record_id}": _RECORD,
    "/api/cases": _RECORD,
    "/api/cases/{record_id}": _RECORD,
    **{f"/api/{k}/import": _IMPORT for k in ("accounts", "contacts", "leads", "cases")},
    "/api/opportunities/import": _IMPORT,
    "/api/emails": _EMAIL,
    "/api/emails/{email_id}": _EMAIL,
    "/api/emails/{email_id}/attachments": _EMAIL,
    "/api/emails/{email_id}/attachments/{attachment_id}": _EMAIL,
    "/api/emails/{email_id}/retry": _EMAIL,
    "/api/emails/{email_id}/send": _EMAIL,
    "/api/mailboxes": _MAILBOX,
    "/api/mailboxes/{mailbox_id}": _MAILBOX,
    "/api/mailboxes/{mailbox_id}/credentials": _MAILBOX,
    "/api/mailboxes/{mailbox_id}/folder-rules": _MAILBOX,
    "/api/mailboxes/{mailbox_id}/folder-rules/{folder:path}": _MAILBOX,
    "/api/mailboxes/{mailbox_id}/not-tracked": _MAILBOX,
    "/api/mailboxes/{mailbox_id}/test-and-enable": _MAILBOX,
    "/api/mailboxes/test-and-enable": _MAILBOX,
    "/api/mailboxes/views": _MAILBOX,
    "/api/mailboxes/views/{view}": _MAILBOX,
    "/api/mailboxes/grid": _MAILBOX,
    "/api/mailboxes/approve": "approve email: an administrator's privilege, Organization-wide",
    "/api/mailboxes/{mailbox_id}/approve": "approve email: Organization-wide",
    "/api/mailboxes/bulk": "bulk set-up of users and mailboxes (write_users)",
    "/api/users/{user_id}/options": "personal options: one's own, else within user settings",
    "/api/parked": "parked email: scoped by read_mailboxes (test_access_parked.py)",
    "/api/parked/replay": "parked email: scoped by write_mailboxes (test_access_parked.py)",
    "/api/parked/{parked_id}/replay": "parked email: scoped by write_mailboxes (same)",
    "/api/webhooks": "subscriptions (settings); deliveries scoped to the owner (test above)",
    "/api/webhooks/{webhook_id}": "subscriptions (settings)",
    "/api/webhooks/{webhook_id}/deliveries": "subscriptions (settings)",
    "/api/push/{kind}": "mail API change notifications, authenticated by the vendor",
    "/api/settings/email": _ORG,
    "/api/server-profiles": _ORG,
    "/api/server-profiles/kinds": _ORG,
    "/api/server-profiles/{profile_id}": _ORG,
    "/api/server-profiles/{profile_id}/credentials": _ORG,
    "/api/server-profiles/{profile_id}/test": _ORG,
    "/api/users": _ORG,
    "/api/users/me": "one's own user",
    "/api/users/{user_id}": _ORG,
    "/api/users/{user_id}/business-unit": _ORG,
    "/api/users/{user_id}/deactivate": _ORG,
    "/api/users/{user_id}/password": "one's own, else write_users",
    "/api/users/{user_id}/roles": _ORG,
    "/api/queues": _ORG,
    "/api/queues/{queue_id}": _ORG,
    "/api/queues/{queue_id}/business-unit": _ORG,
    "/api/queues/{queue_id}/members": _ORG,
    "/api/queues/{queue_id}/roles": _ORG,
    "/api/roles": _ORG,
    "/api/roles/{role_id}": _ORG,
    "/api/roles/{role_id}/privileges": _ORG,
    "/api/business-units": _ORG,
    "/api/business-units/{unit_id}": _ORG,
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_api_route_has_an_access_entry(tidings: Tidings) -> None:
    # A new endpoint must say how access to it is decided, or this fails.
    paths = {
        path
        for _method, path, _route in all_routes(create_app(tidings))
        if path.startswith("/api/") and not path.startswith("/api/docs")
    }
    assert sorted(paths - set(ACCESS)) == []
    assert sorted(set(ACCESS) - paths) == []
