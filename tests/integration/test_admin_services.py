"""Administration services on real databases: settings, server profiles, mailboxes, users,
queues, roles, personal options and folder rules, each checking the caller's privileges."""

from __future__ import annotations

import pytest

from tests.builders import Org
from tidings.domain.credentials import CredentialKey, CredentialScope, Direction
from tidings.domain.errors import ConflictError, NotAuthorizedError, NotFoundError, ValidationError
from tidings.domain.mailbox import ApprovalStatus, TestStatus
from tidings.domain.mailbox_views import MailboxView
from tidings.domain.people import Caller, Privilege, TrackIncoming
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.settings import SyncMethod
from tidings.services.personal_options import FolderRuleInput
from tidings.services.server_profiles import ProfileSecret

IMAP = {
    "name": "Contoso IMAP",
    "kind": "imap_smtp",
    "incoming_host": "imap.contoso.example",
    "incoming_port": 993,
    "outgoing_host": "smtp.contoso.example",
    "outgoing_port": 587,
}


def admin(org: Org) -> Caller:
    return Caller(org.users["dana"], frozenset(Privilege))


def nobody(org: Org, name: str = "dana") -> Caller:
    return Caller(org.users[name], frozenset())


# Email configuration settings -------------------------------------------------------------


def test_settings_change_is_validated_and_saved(org: Org) -> None:
    # Enums arrive as their values, the tracking token as a partial mapping, extensions
    # without their dot; all of it is checked before anything is saved.
    service = org.tidings.email_settings
    saved = service.update(
        admin(org),
        {
            "default_incoming_method": "none",
            "use_smart_matching": True,
            "tracking_token": {"prefix": "TKT:", "counter_digits": 4},
            "blocked_extensions": [".EXE", "js"],
            "max_attachment_kb": 10240,
        },
    )
    again = service.get(admin(org))
    assert again == saved
    assert again.default_incoming_method is SyncMethod.NONE
    assert (again.tracking_token.prefix, again.tracking_token.counter_digits) == ("TKT:", 4)
    assert again.tracking_token.user_digits == 3
    assert again.blocked_extensions == frozenset({"exe", "js"})


def test_values_posted_by_a_form_are_read_as_their_types(org: Org) -> None:
    # A console form posts text: numbers, check boxes, lists of words, empty optional fields.
    config = org.tidings.email_settings.update(
        admin(org),
        {
            "max_attachment_kb": " 2048 ",
            "use_smart_matching": "on",
            "blocked_extensions": "exe, js bat",
        },
    )
    assert (config.max_attachment_kb, config.use_smart_matching) == (2048, True)
    assert config.blocked_extensions == frozenset({"exe", "js", "bat"})
    profile = org.tidings.server_profiles.create(
        admin(org),
        {
            **IMAP,
            "incoming_port": "",
            "outgoing_port": "2525",
            "process_email_received_after": "2026-01-01T00:00:00+00:00",
        },
    ).profile
    assert (profile.incoming_port, profile.outgoing_port) == (None, 2525)
    assert profile.process_email_received_after.year == 2026
    with pytest.raises(ValidationError, match="is not an ISO 8601 time"):
        org.tidings.server_profiles.update(
            admin(org), profile.id, {"process_email_received_after": "soon"}
        )


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"max_attachment_kb": -1}, "maximum attachment size"),
        ({"max_attachment_kb": "big"}, "max_attachment_kb: expected a whole number"),
        ({"processing": "sometimes"}, "'sometimes' is not one of"),
        ({"colour": "blue"}, "unknown field 'colour'"),
        ({"tracking_token": {"prefix": " "}}, "prefix cannot be empty"),
        ({"blocked_extensions": ["no good"]}, "is not a file extension"),
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(org: Org, changes, words) -> None:
    # A bad value names the field and leaves the stored settings as they were.
    service = org.tidings.email_settings
    before = service.get(admin(org))
    with pytest.raises(ValidationError, match=words):
        service.update(admin(org), changes)
    assert service.get(admin(org)) == before


def test_settings_need_their_privileges(org: Org) -> None:
    reader = Caller(org.users["dana"], frozenset({Privilege.READ_SETTINGS}))
    org.tidings.email_settings.get(reader)
    with pytest.raises(NotAuthorizedError, match="write_settings"):
        org.tidings.email_settings.update(reader, {"use_smart_matching": True})
    with pytest.raises(NotAuthorizedError, match="read_settings"):
        org.tidings.email_settings.get(nobody(org))


# Server profiles --------------------------------------------------------------------------


def test_a_profile_password_is_sealed_and_never_shown(org: Org) -> None:
    # Credentials held by the profile: the user name is shown, the password kept encrypted.
    service = org.tidings.server_profiles
    view = service.create(
        admin(org),
        {**IMAP, "credential_source": "profile"},
        ProfileSecret("svc@contoso.example", "s3cret-pass"),
    )
    assert view.credential_usernames == {Direction.INCOMING: "svc@contoso.example"}
    assert "s3cret-pass" not in repr(view)
    with org.tidings.uow() as uow:
        key = CredentialKey(CredentialScope.SERVER_PROFILE, view.profile.id, Direction.INCOMING)
        _username, sealed = uow.credentials.get(key)
    assert "s3cret-pass" not in sealed
    assert org.tidings.secrets.open(sealed) == "s3cret-pass"


def test_an_insecure_profile_needs_allow_insecure_and_carries_a_warning(org: Org) -> None:
    service = org.tidings.server_profiles
    plain = {**IMAP, "incoming_security": "none"}
    with pytest.raises(ValidationError, match="allow insecure"):
        service.create(admin(org), plain)
    view = service.create(admin(org), {**plain, "allow_insecure": True})
    assert "email and passwords travel unencrypted to this server" in view.warnings


def test_every_kind_of_profile_can_be_stored(org: Org) -> None:
    service = org.tidings.server_profiles
    service.create(admin(org), IMAP)
    service.create(
        admin(org),
        {"name": "M365", "kind": "exchange_online", "options": {"tenant_id": "contoso"}},
    )
    service.create(admin(org), {"name": "Gmail", "kind": "gmail"})
    kinds = {v.profile.name: v.profile.kind.value for v in service.list_profiles(admin(org))}
    assert kinds == {"Contoso IMAP": "imap_smtp", "M365": "exchange_online", "Gmail": "gmail"}


def test_profile_update_rechecks_and_names_stay_unique(org: Org) -> None:
    service = org.tidings.server_profiles
    first = service.create(admin(org), IMAP)
    service.create(admin(org), {**IMAP, "name": "Other"})
    changed = service.update(admin(org), first.profile.id, {"max_concurrent_connections": 50})
    assert changed.profile.max_concurrent_connections == 50
    with pytest.raises(ValidationError, match="between 1 and 100,000"):
        service.update(admin(org), first.profile.id, {"max_concurrent_connections": 100_001})
    with pytest.raises(ConflictError, match="named 'Other' exists"):
        service.update(admin(org), first.profile.id, {"name": "other"})
    with pytest.raises(ValidationError, match="unknown field 'id'"):
        service.update(admin(org), first.profile.id, {"id": 7})


def test_a_profile_in_use_cannot_be_deleted(org: Org) -> None:
    # Deleting would leave mailboxes without a way to connect: refused, naming them.
    service = org.tidings.server_profiles
    view = service.create(admin(org), IMAP)
    org.tidings.mailbox_setup.update(
        admin(org), org.mailboxes["dana"], {"profile_id": view.profile.id}
    )
    with pytest.raises(ConflictError, match=r"used by 1 mailbox\(es\) \(dana@northwind.example\)"):
        service.delete(admin(org), view.profile.id)
    org.tidings.mailbox_setup.update(admin(org), org.mailboxes["dana"], {"profile_id": None})
    service.delete(admin(org), view.profile.id)
    with pytest.raises(NotFoundError):
        service.get(admin(org), view.profile.id)


def test_profiles_need_their_privileges(org: Org) -> None:
    reader = Caller(org.users["dana"], frozenset({Privilege.READ_SERVER_PROFILES}))
    assert org.tidings.server_profiles.list_profiles(reader) == []
    with pytest.raises(NotAuthorizedError, match="write_server_profiles"):
        org.tidings.server_profiles.create(reader, IMAP)


# Mailboxes --------------------------------------------------------------------------------


def test_mailbox_views_follow_approval_and_test_results(org: Org) -> None:
    # dana: approved and enabled; sam: pending; lee: approved, its test failed.
    org.add_user("sam", approved=False, enabled=False)
    org.add_user("lee", approved=True, enabled=False)
    with org.tidings.uow() as uow:
        lee = uow.mailboxes.get(org.mailboxes["lee"])
        lee.record_test(incoming=TestStatus.FAILURE, outgoing=TestStatus.SUCCESS, alerts=[])
        uow.mailboxes.save(lee)
        uow.commit()
    service = org.tidings.mailbox_setup

    def names(view: str) -> list[str]:
        return [m.address.split("@")[0] for m in service.list_mailboxes(admin(org), view)]

    assert names("active") == ["dana"]
    assert names("pending_approval") == ["sam"]
    assert names("test_failed") == ["lee"]
    assert names("disabled") == ["lee", "sam"]
    assert names(MailboxView.ALL) == ["dana", "lee", "sam"]
    with pytest.raises(ValidationError, match="unknown view 'busy'"):
        service.list_mailboxes(admin(org), "busy")
    rows = service.list_rows(admin(org), "pending_approval")
    assert [(r.mailbox.address, r.owner_name, r.profile_name) for r in rows] == [
        ("sam@northwind.example", "Sam", None)
    ]


def test_a_new_mailbox_is_pending_with_the_default_methods(org: Org) -> None:
    org.tidings.email_settings.update(admin(org), {"default_outgoing_method": "none"})
    queue = org.add_queue("support")
    # add_queue made a mailbox already; a second one for the same owner is refused.
    service = org.tidings.mailbox_setup
    with pytest.raises(ConflictError, match="already has a mailbox"):
        service.create(admin(org), address="help@northwind.example", owner=queue.ref)
    user = org.tidings.people.create_user(
        admin(org), full_name="Ivo", email="ivo@northwind.example"
    )
    detail = service.create(
        admin(org), address="Ivo@Northwind.example", owner=RecordRef(RecordKind.USER, user.id)
    )
    mailbox = detail.mailbox
    assert (mailbox.address, mailbox.approval) == ("ivo@northwind.example", ApprovalStatus.PENDING)
    assert (mailbox.incoming_method, mailbox.outgoing_method) == (
        SyncMethod.SERVER_SIDE_SYNC,
        SyncMethod.NONE,
    )
    assert detail.owner_name == "Ivo"
    with pytest.raises(ValidationError, match="belongs to a user or a queue"):
        service.create(admin(org), address="x@northwind.example", owner=org.records["maria"])
    with pytest.raises(NotFoundError, match="no user with id 999"):
        service.create(
            admin(org), address="x@northwind.example", owner=RecordRef(RecordKind.USER, 999)
        )


def test_an_address_change_resets_approval_and_a_profile_change_asks_for_a_test(org: Org) -> None:
    service = org.tidings.mailbox_setup
    mailbox_id = org.mailboxes["dana"]
    profile = org.tidings.server_profiles.create(admin(org), IMAP).profile
    detail = service.update(admin(org), mailbox_id, {"profile_id": profile.id})
    assert not detail.mailbox.enabled
    assert detail.mailbox.is_approved
    assert (
        detail.mailbox.alerts[-1].text == "the connection settings changed: run Test & Enable again"
    )
    detail = service.update(admin(org), mailbox_id, {"address": "dana.new@northwind.example"})
    assert detail.mailbox.approval is ApprovalStatus.PENDING
    assert detail.profile_name == "Contoso IMAP"
    with pytest.raises(ValidationError, match="not an email address"):
        service.update(admin(org), mailbox_id, {"address": "nowhere"})
    with pytest.raises(NotFoundError, match="no server profile with id 999"):
        service.update(admin(org), mailbox_id, {"profile_id": 999})
    with pytest.raises(ValidationError, match="unknown field 'enabled'"):
        service.update(admin(org), mailbox_id, {"enabled": True})


def test_mailbox_changes_need_write_mailboxes(org: Org) -> None:
    reader = Caller(org.users["dana"], frozenset({Privilege.READ_MAILBOXES}))
    org.tidings.mailbox_setup.get(reader, org.mailboxes["dana"])
    with pytest.raises(NotAuthorizedError, match="write_mailboxes"):
        org.tidings.mailbox_setup.update(reader, org.mailboxes["dana"], {"profile_id": None})


# Users, queues and security roles ---------------------------------------------------------


def test_a_user_is_created_with_a_hashed_password_and_roles(org: Org) -> None:
    people = org.tidings.people
    tracking = next(r for r in people.list_roles(admin(org)) if r.name == "Tidings App User")
    user = people.create_user(
        admin(org),
        full_name="Ivo Novak",
        email="ivo@northwind.example",
        password="correct horse",
        role_ids=[tracking.id],
    )
    assert user.has_password
    assert [r.name for r in user.roles] == ["Tidings App User"]
    assert org.tidings.access.authenticate("ivo@northwind.example", "correct horse") is not None
    with pytest.raises(ConflictError, match="belongs to another user"):
        people.create_user(admin(org), full_name="Ivo 2", email="IVO@northwind.example")
    with pytest.raises(ValidationError, match="at least 8 characters"):
        people.create_user(
            admin(org), full_name="Short", email="s@northwind.example", password="abc"
        )
    with pytest.raises(NotFoundError, match="no security role with id 999"):
        people.create_user(admin(org), full_name="Z", email="z@northwind.example", role_ids=[999])


def test_a_deactivated_user_cannot_sign_in_and_no_one_deactivates_themselves(org: Org) -> None:
    people = org.tidings.people
    user = people.create_user(
        admin(org), full_name="Ivo", email="ivo@northwind.example", password="correct horse"
    )
    assert not people.deactivate_user(admin(org), user.id).is_active
    assert org.tidings.access.authenticate("ivo@northwind.example", "correct horse") is None
    with pytest.raises(ValidationError, match="cannot deactivate yourself"):
        people.deactivate_user(admin(org), org.users["dana"].id)


def test_a_user_sets_their_own_password_but_not_anyone_elses(org: Org) -> None:
    people = org.tidings.people
    sam = org.add_user("sam")
    people.set_password(nobody(org, "sam"), sam.id, "sam-new-password")
    assert org.tidings.access.authenticate("sam@northwind.example", "sam-new-password")
    with pytest.raises(NotAuthorizedError, match="write_users"):
        people.set_password(nobody(org, "sam"), org.users["dana"].id, "dana-new-password")


def test_roles_are_created_changed_and_assigned_to_users_and_queues(org: Org) -> None:
    people = org.tidings.people
    approver = people.create_role(
        admin(org), name="Approver", privileges=["approve_email", "read_mailboxes"]
    )
    assert approver.privileges == {Privilege.APPROVE_EMAIL, Privilege.READ_MAILBOXES}
    people.update_role(admin(org), approver.id, privileges=["approve_email"])
    sam = org.add_user("sam", tracking_role=False)
    summary = people.assign_user_roles(admin(org), sam.id, [approver.id])
    assert [(r.name, r.privileges) for r in summary.roles] == [
        ("Approver", {Privilege.APPROVE_EMAIL})
    ]
    queue = people.create_queue(admin(org), name="Support", email="support@northwind.example")
    queue = people.update_queue(admin(org), queue.id, role_ids=[approver.id])
    assert [r.name for r in queue.roles] == ["Approver"]
    assert [q.name for q in people.list_queues(admin(org))] == ["Support"]
    with pytest.raises(ValidationError, match="unknown privilege 'fly'"):
        people.create_role(admin(org), name="Pilot", privileges=["fly"])
    with pytest.raises(ConflictError, match="named 'Approver' exists"):
        people.create_role(admin(org), name="approver", privileges=[])
    sysadmin = next(r for r in people.list_roles(admin(org)) if r.name == "System Administrator")
    with pytest.raises(ValidationError, match="cannot be changed"):
        people.update_role(admin(org), sysadmin.id, privileges=[])


def test_an_admin_cannot_take_away_their_own_user_management(org: Org) -> None:
    people = org.tidings.people
    with pytest.raises(ValidationError, match="your own right to manage users"):
        people.assign_user_roles(admin(org), org.users["dana"].id, [])


def test_users_need_their_privileges(org: Org) -> None:
    people = org.tidings.people
    with pytest.raises(NotAuthorizedError, match="read_users"):
        people.list_users(nobody(org))
    with pytest.raises(NotAuthorizedError, match="write_users"):
        people.create_role(nobody(org), name="Mine", privileges=list(Privilege))
    assert people.get_user(nobody(org), org.users["dana"].id).email == "dana@northwind.example"


# Personal options and folder rules --------------------------------------------------------


def test_a_user_edits_their_own_options_an_admin_anyones(org: Org) -> None:
    options = org.tidings.personal_options
    sam = org.add_user("sam")
    changed = options.update_options(
        nobody(org, "sam"), sam.id, track_incoming="email_messages_from_leads_contacts_and_accounts"
    )
    assert changed.track_incoming is TrackIncoming.FROM_CUSTOMERS
    with pytest.raises(NotAuthorizedError, match="write_user_settings"):
        options.update_options(
            nobody(org, "sam"), org.users["dana"].id, track_incoming="all_email_messages"
        )
    options.update_options(admin(org), sam.id, create_contacts_for_unknown_senders=True)
    assert options.get_options(nobody(org, "sam"), sam.id).create_contacts_for_unknown_senders
    with pytest.raises(ValidationError, match="'some' is not one of"):
        options.update_options(admin(org), sam.id, track_incoming="some")


def test_folder_rules_stop_at_25_with_a_clear_error(org: Org) -> None:
    options = org.tidings.personal_options
    dana = nobody(org)
    mailbox_id = org.mailboxes["dana"]
    for n in range(25):
        rules = options.add_folder_rule(dana, mailbox_id, FolderRuleInput(f"Projects/{n:02}"))
    assert len(rules) == 25
    with pytest.raises(ValidationError, match="at most 25 folders can be tracked per mailbox"):
        options.add_folder_rule(dana, mailbox_id, FolderRuleInput("Projects/26"))
    assert len(options.folder_rules(dana, mailbox_id)) == 25


def test_a_folder_rule_may_set_a_regarding_record(org: Org) -> None:
    options = org.tidings.personal_options
    mailbox_id = org.mailboxes["dana"]
    rules = options.add_folder_rule(
        nobody(org), mailbox_id, FolderRuleInput("Deals", org.records["deal"])
    )
    assert [(r.folder, r.regarding) for r in rules] == [("Deals", org.records["deal"])]
    with pytest.raises(ValidationError, match="Inbox is always tracked"):
        options.add_folder_rule(nobody(org), mailbox_id, FolderRuleInput("inbox"))
    with pytest.raises(NotFoundError, match="no opportunity with id 999"):
        options.add_folder_rule(
            nobody(org), mailbox_id, FolderRuleInput("X", RecordRef(RecordKind.OPPORTUNITY, 999))
        )
    assert options.remove_folder_rule(nobody(org), mailbox_id, "Deals") == []
    org.add_user("sam")
    with pytest.raises(NotAuthorizedError, match="write_mailboxes"):
        options.add_folder_rule(nobody(org, "sam"), mailbox_id, FolderRuleInput("Sam's"))


def test_people_and_options_read_form_values(org: Org) -> None:
    # Role ids, check boxes and profile ids as a form posts them.
    people = org.tidings.people
    tracking = next(r for r in people.list_roles(admin(org)) if r.name == "Tidings App User")
    user = people.create_user(
        admin(org), full_name="Ivo", email="ivo@northwind.example", role_ids=[str(tracking.id)]
    )
    assert [r.name for r in user.roles] == ["Tidings App User"]
    assert not people.update_user(admin(org), user.id, is_active="off").is_active
    options = org.tidings.personal_options.update_options(
        admin(org), user.id, create_contacts_for_unknown_senders="false"
    )
    assert options.create_contacts_for_unknown_senders is False
    with pytest.raises(ValidationError, match="'x' is not a security role id"):
        people.assign_user_roles(admin(org), user.id, ["x"])
    with pytest.raises(ValidationError, match="is_active: expected true or false"):
        people.update_user(admin(org), user.id, is_active="perhaps")
    profile = org.tidings.server_profiles.create(admin(org), IMAP).profile
    detail = org.tidings.mailbox_setup.create(
        admin(org),
        address="ivo@northwind.example",
        owner=RecordRef(RecordKind.USER, user.id),
        profile_id=str(profile.id),
    )
    assert detail.mailbox.profile_id == profile.id
