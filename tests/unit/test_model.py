"""The domain's nouns: mailboxes, server profiles, folder rules, settings, records, parties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tidings.domain.access_levels import AccessLevel
from tidings.domain.activity import ActivityParty, ParticipationRole
from tidings.domain.errors import TidingsError, UserError, ValidationError
from tidings.domain.folders import (
    MAX_FOLDER_RULES,
    FolderTrackingRule,
    check_folder_rules,
    is_inbox,
)
from tidings.domain.mailbox import Alert, AlertLevel, ApprovalStatus, Mailbox, TestStatus
from tidings.domain.message import Address, HeaderSummary
from tidings.domain.parties import addresses_by_role, resolve_parties, unresolved_senders
from tidings.domain.people import (
    SYSTEM_ADMINISTRATOR,
    TRACKING_ROLE,
    PersonalOptions,
    Privilege,
    SecurityRole,
    TrackIncoming,
    privileges_of,
    standard_roles,
)
from tidings.domain.records import RecordKind, RecordRef, check_email_addresses
from tidings.domain.server_profile import (
    ConnectionSecurity,
    ServerProfile,
    ServerProfileKind,
    check_server_profile,
)
from tidings.domain.settings import (
    AmbiguousMatch,
    EmailConfiguration,
    SyncMethod,
    TrackingTokenFormat,
    check_configuration,
)

DANA = RecordRef(RecordKind.USER, 1)
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SUCCESS, FAILURE, NOT_RUN = TestStatus.SUCCESS, TestStatus.FAILURE, TestStatus.NOT_RUN


# --- Mailbox ------------------------------------------------------------------------------


def approved_enabled_mailbox(**changes: object) -> Mailbox:
    mailbox = replace(Mailbox("dana@northwind.example", DANA), **changes)  # type: ignore[arg-type]
    mailbox.approve_email()
    mailbox.record_test(incoming=SUCCESS, outgoing=SUCCESS, alerts=[])
    return mailbox


def test_a_new_mailbox_is_pending_approval_untested_and_disabled() -> None:
    # Nothing syncs until an admin approves the address and Test & Enable passes.
    mailbox = Mailbox("dana@northwind.example", DANA)

    assert mailbox.approval is ApprovalStatus.PENDING
    assert (mailbox.incoming_status, mailbox.outgoing_status) == (NOT_RUN, NOT_RUN)
    assert not mailbox.enabled
    assert not mailbox.is_approved
    assert not mailbox.syncs_incoming


def test_a_mailbox_address_is_normalized() -> None:
    # Addresses compare case-insensitively, so the mailbox keeps the lower-case form.
    assert Mailbox("  Dana@Northwind.Example ", DANA).address == "dana@northwind.example"


def test_approve_email_approves_the_address_without_enabling_the_mailbox() -> None:
    # Approval and Test & Enable are separate steps.
    mailbox = Mailbox("dana@northwind.example", DANA)

    mailbox.approve_email()

    assert mailbox.approval is ApprovalStatus.APPROVED
    assert mailbox.is_approved
    assert not mailbox.enabled


def test_a_passing_test_enables_the_mailbox_and_it_syncs_incoming_email() -> None:
    # Incoming and outgoing both succeeded: the mailbox is enabled.
    mailbox = approved_enabled_mailbox()

    assert mailbox.enabled
    assert mailbox.syncs_incoming
    assert (mailbox.incoming_status, mailbox.outgoing_status) == (SUCCESS, SUCCESS)


@pytest.mark.parametrize(
    ("incoming", "outgoing"), [(FAILURE, SUCCESS), (SUCCESS, FAILURE), (NOT_RUN, SUCCESS)]
)
def test_a_test_where_a_method_in_use_did_not_succeed_leaves_the_mailbox_disabled(
    incoming: TestStatus, outgoing: TestStatus
) -> None:
    # Every method in use must succeed; one failure or an untested method disables.
    mailbox = approved_enabled_mailbox()

    mailbox.record_test(incoming=incoming, outgoing=outgoing, alerts=[])

    assert not mailbox.enabled
    assert (mailbox.incoming_status, mailbox.outgoing_status) == (incoming, outgoing)


def test_a_method_set_to_none_is_not_required_to_pass() -> None:
    # With outgoing set to none, only the incoming result counts.
    mailbox = Mailbox("dana@northwind.example", DANA, outgoing_method=SyncMethod.NONE)

    mailbox.record_test(incoming=SUCCESS, outgoing=NOT_RUN, alerts=[])

    assert mailbox.enabled
    assert mailbox.syncs_incoming


def test_a_mailbox_enabled_for_outgoing_only_does_not_sync_incoming() -> None:
    # Incoming none: the mailbox may be enabled but it does not read email.
    mailbox = Mailbox("dana@northwind.example", DANA, incoming_method=SyncMethod.NONE)

    mailbox.record_test(incoming=FAILURE, outgoing=SUCCESS, alerts=[])

    assert mailbox.enabled
    assert not mailbox.syncs_incoming


def test_a_mailbox_with_both_methods_none_is_never_enabled() -> None:
    # With nothing in use there is nothing to enable, even if every result says success.
    mailbox = Mailbox(
        "dana@northwind.example",
        DANA,
        incoming_method=SyncMethod.NONE,
        outgoing_method=SyncMethod.NONE,
    )

    mailbox.record_test(incoming=SUCCESS, outgoing=SUCCESS, alerts=[])

    assert not mailbox.enabled


def test_record_test_keeps_every_alert_in_order() -> None:
    # Alerts accumulate across tests; a later test does not erase earlier ones.
    mailbox = Mailbox("dana@northwind.example", DANA)
    first = Alert(AlertLevel.ERROR, "authentication failed", NOON)
    second = Alert(AlertLevel.INFORMATION, "incoming and outgoing succeeded", NOON)

    mailbox.record_test(incoming=FAILURE, outgoing=NOT_RUN, alerts=[first])
    mailbox.record_test(incoming=SUCCESS, outgoing=SUCCESS, alerts=[second])

    assert mailbox.alerts == [first, second]


def test_change_address_resets_approval_and_disables_the_mailbox() -> None:
    # D365 asks for approval again after an address changes; until then nothing syncs.
    mailbox = approved_enabled_mailbox()

    mailbox.change_address("Dana.Scott@Northwind.Example")

    assert mailbox.address == "dana.scott@northwind.example"
    assert mailbox.approval is ApprovalStatus.PENDING
    assert not mailbox.enabled
    assert not mailbox.syncs_incoming


def test_changing_only_the_case_of_the_address_changes_nothing() -> None:
    # The same address in other letters is the same address: approval stands.
    mailbox = approved_enabled_mailbox()

    mailbox.change_address(" DANA@northwind.example ")

    assert mailbox.is_approved
    assert mailbox.enabled


# --- ServerProfile ------------------------------------------------------------------------


def imap_profile(**changes: object) -> ServerProfile:
    """A valid IMAP/SMTP profile, changed as a test needs."""
    profile = ServerProfile(
        name="Dovecot",
        kind=ServerProfileKind.IMAP_SMTP,
        incoming_host="imap.northwind.example",
        incoming_port=993,
        outgoing_host="smtp.northwind.example",
        outgoing_port=587,
    )
    return replace(profile, **changes)  # type: ignore[arg-type]


def test_a_valid_profile_is_returned_unchanged() -> None:
    # check_ returns what it was given when nothing is wrong.
    profile = imap_profile()

    assert check_server_profile(profile) is profile


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "  "}, "a server profile needs a name"),
        (
            {"max_concurrent_connections": 0},
            "maximum concurrent connections must be between 1 and 100,000",
        ),
        (
            {"max_concurrent_connections": 100_001},
            "maximum concurrent connections must be between 1 and 100,000",
        ),
        (
            {"min_polling_interval_minutes": -1},
            "the minimum polling interval must be between 0 and 1440 minutes",
        ),
        (
            {"min_polling_interval_minutes": 1441},
            "the minimum polling interval must be between 0 and 1440 minutes",
        ),
        (
            {"connection_timeout_seconds": 0},
            "the connection timeout must be between 1 and 600 seconds",
        ),
        (
            {"connection_timeout_seconds": 601},
            "the connection timeout must be between 1 and 600 seconds",
        ),
        ({"incoming_host": " "}, "the incoming server needs a host name"),
        ({"outgoing_host": ""}, "the outgoing server needs a host name"),
        ({"incoming_port": 0}, "the incoming port must be between 1 and 65535"),
        ({"outgoing_port": 65536}, "the outgoing port must be between 1 and 65535"),
        (
            {"incoming_security": ConnectionSecurity.NONE},
            "a connection without TLS needs 'allow insecure' to be set explicitly",
        ),
        (
            {"outgoing_security": ConnectionSecurity.NONE},
            "a connection without TLS needs 'allow insecure' to be set explicitly",
        ),
        (
            {"process_email_received_after": datetime(2026, 1, 1)},  # noqa: DTZ001 - on purpose
            "'process email received after' needs a time zone",
        ),
    ],
)
def test_check_server_profile_says_what_to_fix(changes: dict[str, object], message: str) -> None:
    # Each broken setting raises a ValidationError whose message names the fix.
    with pytest.raises(ValidationError) as raised:
        check_server_profile(imap_profile(**changes))

    assert str(raised.value) == message


@pytest.mark.parametrize(
    "changes",
    [
        {"max_concurrent_connections": 1},
        {"max_concurrent_connections": 5_000},
        {"min_polling_interval_minutes": 0},
        {"min_polling_interval_minutes": 1440},
        {"connection_timeout_seconds": 1},
        {"connection_timeout_seconds": 600},
        {"incoming_port": 1, "outgoing_port": 65535},
        {"incoming_port": None, "outgoing_port": None},
        {"process_email_received_after": NOON},
    ],
)
def test_check_server_profile_accepts_the_edges_of_each_range(changes: dict[str, object]) -> None:
    # D365's ranges are inclusive; an absent port means the protocol's default.
    check_server_profile(imap_profile(**changes))


def test_an_insecure_connection_is_accepted_once_allow_insecure_is_set() -> None:
    # Plain-text connections need an explicit opt-in, then pass.
    profile = imap_profile(
        incoming_security=ConnectionSecurity.NONE,
        outgoing_security=ConnectionSecurity.NONE,
        allow_insecure=True,
    )

    assert check_server_profile(profile) is profile


@pytest.mark.parametrize(
    "kind",
    [ServerProfileKind.EXCHANGE_ONLINE, ServerProfileKind.EXCHANGE_SERVER, ServerProfileKind.GMAIL],
)
def test_profiles_that_are_not_host_based_need_no_hosts(kind: ServerProfileKind) -> None:
    # Exchange and Gmail are reached through their APIs, not through host and port.
    profile = ServerProfile(name="Cloud", kind=kind)

    assert check_server_profile(profile) is profile


def test_pop3_profiles_need_hosts_like_imap() -> None:
    # POP3/SMTP is host-based, so its hosts are required.
    with pytest.raises(ValidationError) as raised:
        check_server_profile(ServerProfile(name="POP", kind=ServerProfileKind.POP3_SMTP))

    assert str(raised.value) == "the incoming server needs a host name"


def test_a_naive_received_after_is_rejected_for_every_kind() -> None:
    # The time-zone check applies to cloud profiles too.
    profile = ServerProfile(
        name="Cloud",
        kind=ServerProfileKind.GMAIL,
        process_email_received_after=datetime(2026, 1, 1),  # noqa: DTZ001 - on purpose
    )

    with pytest.raises(ValidationError, match="needs a time zone"):
        check_server_profile(profile)


def test_a_secure_verified_profile_has_no_warnings() -> None:
    # TLS everywhere with certificate checks: nothing to warn about.
    assert imap_profile().warnings() == []


def test_warnings_name_unencrypted_connections_and_unverified_certificates() -> None:
    # An admin sees each risk the profile takes, in a fixed order.
    profile = imap_profile(
        outgoing_security=ConnectionSecurity.NONE, allow_insecure=True, verify_certificates=False
    )

    assert profile.warnings() == [
        "email and passwords travel unencrypted to this server",
        "server certificates are not verified",
    ]


# --- folder rules -------------------------------------------------------------------------


def folder_rules(*names: str) -> list[FolderTrackingRule]:
    return [FolderTrackingRule(1, name) for name in names]


def test_twenty_five_folder_rules_are_allowed() -> None:
    # D365 tracks at most 25 folders per mailbox besides the Inbox.
    rules = folder_rules(*(f"Folder {n}" for n in range(MAX_FOLDER_RULES)))

    assert check_folder_rules(rules) is rules


def test_a_twenty_sixth_folder_rule_is_refused() -> None:
    # One more than 25 is refused with the limit in the message.
    rules = folder_rules(*(f"Folder {n}" for n in range(MAX_FOLDER_RULES + 1)))

    with pytest.raises(ValidationError) as raised:
        check_folder_rules(rules)

    assert str(raised.value) == "at most 25 folders can be tracked per mailbox"


@pytest.mark.parametrize("name", ["INBOX", "Inbox", "inbox", " inbox "])
def test_the_inbox_needs_no_folder_rule_in_any_case(name: str) -> None:
    # The Inbox is always tracked (and named case-insensitively, RFC 3501 §5.1).
    with pytest.raises(ValidationError) as raised:
        check_folder_rules(folder_rules(name))

    assert str(raised.value) == "the Inbox is always tracked; it needs no folder rule"


def test_is_inbox_ignores_case_but_not_other_folders_named_like_it() -> None:
    # Only the Inbox itself is the Inbox; its subfolders are not.
    assert is_inbox("InBoX")
    assert not is_inbox("INBOX/Clients")
    assert not is_inbox("Inbox2")


def test_the_same_folder_twice_is_refused() -> None:
    # A folder tracked twice is a mistake, even with different padding.
    with pytest.raises(ValidationError) as raised:
        check_folder_rules(folder_rules("Clients", " Clients "))

    assert str(raised.value) == "folder 'Clients' is tracked twice"


def test_folders_differing_in_case_are_different_folders() -> None:
    # Apart from the Inbox, IMAP folder names are case-sensitive.
    check_folder_rules(folder_rules("Clients", "clients"))


def test_a_folder_rule_needs_a_folder_name() -> None:
    # A blank folder name is refused.
    with pytest.raises(ValidationError) as raised:
        check_folder_rules(folder_rules("  "))

    assert str(raised.value) == "a folder rule needs a folder name"


@pytest.mark.parametrize(
    "kind",
    [
        RecordKind.ACCOUNT,
        RecordKind.CONTACT,
        RecordKind.LEAD,
        RecordKind.OPPORTUNITY,
        RecordKind.CASE,
    ],
)
def test_a_folder_rule_may_be_regarding_a_customer_or_a_deal(kind: RecordKind) -> None:
    # Accounts, contacts, leads, opportunities and cases can be regarding records.
    check_folder_rules([FolderTrackingRule(1, "Deals", RecordRef(kind, 3))])


@pytest.mark.parametrize("kind", [RecordKind.USER, RecordKind.QUEUE])
def test_a_folder_rule_cannot_be_regarding_a_user_or_queue(kind: RecordKind) -> None:
    # Users and queues are parties, never what an email is about.
    with pytest.raises(ValidationError) as raised:
        check_folder_rules([FolderTrackingRule(1, "Team", RecordRef(kind, 3))])

    assert str(raised.value) == f"a {kind.value} cannot be a regarding record"


# --- email configuration ------------------------------------------------------------------


def test_the_default_configuration_is_valid_and_matches_d365() -> None:
    # Server-side sync, approved mailboxes only, tokens and correlation on, smart matching off.
    config = EmailConfiguration()

    assert check_configuration(config) is config
    assert config.use_tracking_token and config.use_correlation
    assert not config.use_smart_matching
    assert config.smart_matching_min_recipients == 2
    assert config.tracking_token == TrackingTokenFormat("CRM:", 1, 3, 3)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"tracking_token": TrackingTokenFormat(prefix=" ")},
            "the tracking token prefix cannot be empty",
        ),
        (
            {"tracking_token": TrackingTokenFormat(deployment_digits=3)},
            "deployment digits must be between 0 and 2",
        ),
        (
            {"tracking_token": TrackingTokenFormat(deployment_digits=-1)},
            "deployment digits must be between 0 and 2",
        ),
        (
            {"tracking_token": TrackingTokenFormat(user_digits=0)},
            "user digits must be 1–6 and counter digits 1–9",
        ),
        (
            {"tracking_token": TrackingTokenFormat(user_digits=7)},
            "user digits must be 1–6 and counter digits 1–9",
        ),
        (
            {"tracking_token": TrackingTokenFormat(counter_digits=0)},
            "user digits must be 1–6 and counter digits 1–9",
        ),
        (
            {"tracking_token": TrackingTokenFormat(counter_digits=10)},
            "user digits must be 1–6 and counter digits 1–9",
        ),
        (
            {"smart_matching_min_recipients": 0},
            "smart matching needs between 1 and 20 shared recipients",
        ),
        (
            {"smart_matching_min_recipients": 21},
            "smart matching needs between 1 and 20 shared recipients",
        ),
        (
            {"max_attachment_kb": -1},
            "the maximum attachment size must be between 0 and 131072 KB",
        ),
        (
            {"max_attachment_kb": 131073},
            "the maximum attachment size must be between 0 and 131072 KB",
        ),
    ],
)
def test_check_configuration_refuses_what_d365_would(
    changes: dict[str, object], message: str
) -> None:
    # Each out-of-range setting raises a ValidationError that says the allowed range.
    with pytest.raises(ValidationError) as raised:
        check_configuration(replace(EmailConfiguration(), **changes))  # type: ignore[arg-type]

    assert str(raised.value) == message


@pytest.mark.parametrize(
    "changes",
    [
        {"tracking_token": TrackingTokenFormat("TID#", 0, 1, 1)},
        {"tracking_token": TrackingTokenFormat("CRM:", 2, 6, 9)},
        {"smart_matching_min_recipients": 1},
        {"smart_matching_min_recipients": 20},
        {"max_attachment_kb": 0},
        {"max_attachment_kb": 131072},
    ],
)
def test_check_configuration_accepts_the_edges_of_each_range(changes: dict[str, object]) -> None:
    # The ranges are inclusive.
    check_configuration(replace(EmailConfiguration(), **changes))  # type: ignore[arg-type]


def test_evolve_returns_a_changed_copy_and_leaves_the_original_alone() -> None:
    # Settings are frozen values; a change makes a new one.
    config = EmailConfiguration()

    changed = config.evolve(use_smart_matching=True, max_attachment_kb=10240)

    assert (changed.use_smart_matching, changed.max_attachment_kb) == (True, 10240)
    assert (config.use_smart_matching, config.max_attachment_kb) == (False, 5120)


def test_evolve_validates_the_result() -> None:
    # An invalid change raises instead of returning a broken configuration.
    with pytest.raises(ValidationError, match="shared recipients"):
        EmailConfiguration().evolve(smart_matching_min_recipients=0)


def test_evolve_refuses_a_setting_that_does_not_exist() -> None:
    # A misspelt setting is an error, not silently ignored.
    with pytest.raises(TypeError):
        EmailConfiguration().evolve(use_smart_matchin=True)


def test_validation_errors_are_user_errors() -> None:
    # Validation errors are the caller's to fix, and all are Tidings errors.
    assert issubclass(ValidationError, UserError)
    assert issubclass(UserError, TidingsError)


# --- records ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("contact:12", RecordRef(RecordKind.CONTACT, 12)),
        ("Opportunity:5", RecordRef(RecordKind.OPPORTUNITY, 5)),
        (" case :7", RecordRef(RecordKind.CASE, 7)),
    ],
)
def test_record_ref_parse_reads_kind_colon_id(text: str, ref: RecordRef) -> None:
    # The kind is read case-insensitively and around spaces.
    assert RecordRef.parse(text) == ref


def test_a_record_ref_writes_itself_as_it_is_parsed() -> None:
    # str() and parse() are inverses.
    ref = RecordRef(RecordKind.LEAD, 42)

    assert str(ref) == "lead:42"
    assert RecordRef.parse(str(ref)) == ref


@pytest.mark.parametrize(
    "text", ["contact12", "contact:", "contact:x", "contact:-1", "contact:1:2", "contact:²", ""]
)
def test_record_ref_parse_refuses_text_that_is_not_kind_colon_id(text: str) -> None:
    # Without a colon and a plain number, the message shows the expected form.
    with pytest.raises(ValueError) as raised:
        RecordRef.parse(text)

    assert str(raised.value) == f"expected KIND:ID such as contact:12, got {text!r}"


@pytest.mark.parametrize("kind", ["planet", ""])
def test_record_ref_parse_refuses_an_unknown_kind_and_lists_the_known_ones(kind: str) -> None:
    # An unknown kind is named, with every kind that exists.
    with pytest.raises(ValueError) as raised:
        RecordRef.parse(f"{kind}:1")

    assert str(raised.value) == (
        f"unknown record kind {kind!r}; expected one of "
        "user, queue, account, contact, lead, opportunity, case"
    )


def test_check_email_addresses_normalizes_and_drops_blanks() -> None:
    # Addresses are trimmed and lower-cased; blank entries are dropped.
    assert check_email_addresses((" Maria@Contoso.Example ", "", "  ")) == (
        "maria@contoso.example",
    )


def test_a_record_holds_at_most_three_addresses() -> None:
    # D365's emailaddress1–3.
    four = ("a@x.example", "b@x.example", "c@x.example", "d@x.example")

    assert check_email_addresses(four[:3]) == four[:3]
    with pytest.raises(ValidationError) as raised:
        check_email_addresses(four)
    assert str(raised.value) == "a record holds at most 3 email addresses"


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("maria", "'maria'"),
        ("@contoso.example", "'@contoso.example'"),
        ("maria@", "'maria@'"),
        ("Maria Garcia@contoso.example", "'maria garcia@contoso.example'"),
    ],
)
def test_check_email_addresses_refuses_what_is_not_an_address(address: str, shown: str) -> None:
    # Local part, @ and domain are required, and no spaces.
    with pytest.raises(ValidationError) as raised:
        check_email_addresses((address,))

    assert str(raised.value) == f"{shown} is not an email address"


# --- parties ------------------------------------------------------------------------------

MARIA = RecordRef(RecordKind.CONTACT, 1)
CONTOSO = RecordRef(RecordKind.ACCOUNT, 2)
LENA = RecordRef(RecordKind.LEAD, 3)
OWN = "dana@northwind.example"


def make_headers(**changes: object) -> HeaderSummary:
    """Maria writes to Dana and to info@contoso, with Tom in copy."""
    headers = HeaderSummary(
        message_id="<m1@contoso.example>",
        subject="Quote",
        sender=Address("Maria Garcia", "maria@contoso.example"),
        to=(Address("Dana", OWN), Address("Contoso", "info@contoso.example")),
        cc=(Address("Tom", "tom@contoso.example"),),
        bcc=(),
        date=None,
        in_reply_to=(),
        references=(),
        conversation_id=None,
        auto_submitted="",
        is_autoreply_flagged=False,
        report_type="",
        precedence="",
        return_path=None,
    )
    return replace(headers, **changes)  # type: ignore[arg-type]


MATCHES = {
    "maria@contoso.example": [MARIA],
    OWN: [DANA],
    # info@ belongs to the account and, by mistake, to a lead: ambiguous.
    "info@contoso.example": [LENA, CONTOSO],
}


def test_resolve_parties_links_an_ambiguous_address_to_every_record_with_link_all() -> None:
    # Each address becomes a party per record it matches, records in a stable order,
    # unknown addresses stay unresolved, and the owner comes last.
    parties = resolve_parties(make_headers(), MATCHES, AmbiguousMatch.LINK_ALL, DANA, OWN)

    assert parties == [
        ActivityParty(ParticipationRole.FROM, "maria@contoso.example", "Maria Garcia", MARIA),
        ActivityParty(ParticipationRole.TO, OWN, "Dana", DANA),
        ActivityParty(ParticipationRole.TO, "info@contoso.example", "Contoso", CONTOSO),
        ActivityParty(ParticipationRole.TO, "info@contoso.example", "Contoso", LENA),
        ActivityParty(ParticipationRole.CC, "tom@contoso.example", "Tom", None),
        ActivityParty(ParticipationRole.OWNER, OWN, "", DANA),
    ]


def test_resolve_parties_leaves_an_ambiguous_address_unresolved_when_asked() -> None:
    # With "unresolved", an address matching several records is linked to none.
    parties = resolve_parties(make_headers(), MATCHES, AmbiguousMatch.UNRESOLVED, DANA, OWN)

    info = [p for p in parties if p.address == "info@contoso.example"]
    assert info == [ActivityParty(ParticipationRole.TO, "info@contoso.example", "Contoso")]
    assert not info[0].is_resolved
    assert parties[0].party == MARIA


def test_resolve_parties_links_a_record_listed_twice_for_one_address_once() -> None:
    # A record found twice for the same address is still one match, not ambiguity.
    matches = {"maria@contoso.example": [MARIA, MARIA]}

    parties = resolve_parties(
        make_headers(to=(), cc=()), matches, AmbiguousMatch.UNRESOLVED, DANA, OWN
    )

    assert parties[0] == ActivityParty(
        ParticipationRole.FROM, "maria@contoso.example", "Maria Garcia", MARIA
    )


def test_duplicates_within_a_role_are_removed_but_not_across_roles() -> None:
    # Tom twice in To is one party; Tom in To and Cc is one party in each role.
    tom = Address("Tom", "tom@contoso.example")
    headers = make_headers(to=(tom, tom), cc=(tom,), sender=None)

    assert addresses_by_role(headers) == [
        (ParticipationRole.TO, tom),
        (ParticipationRole.CC, tom),
    ]


def test_an_email_without_addresses_still_has_its_owner_party() -> None:
    # The owner is always a party, even of an email with no readable address.
    headers = make_headers(sender=None, to=(), cc=())

    assert resolve_parties(headers, {}, AmbiguousMatch.LINK_ALL, DANA, OWN) == [
        ActivityParty(ParticipationRole.OWNER, OWN, "", DANA)
    ]


def test_bcc_addresses_become_bcc_parties() -> None:
    # Blind copies the owner sees (on sent email) are kept in their own role.
    headers = make_headers(sender=None, to=(), cc=(), bcc=(Address("", "x@y.example"),))

    assert addresses_by_role(headers) == [(ParticipationRole.BCC, Address("", "x@y.example"))]


def test_unresolved_senders_lists_only_an_unknown_sender_never_recipients() -> None:
    # Candidates for new contacts are unknown senders; unknown recipients stay unresolved.
    parties = [
        ActivityParty(ParticipationRole.FROM, "tom@contoso.example", "Tom"),
        ActivityParty(ParticipationRole.TO, OWN, "Dana"),
        ActivityParty(ParticipationRole.CC, "tom@contoso.example", "T. Becker"),
        ActivityParty(ParticipationRole.CC, "maria@contoso.example", "Maria", MARIA),
        ActivityParty(ParticipationRole.BCC, "ops@contoso.example", ""),
    ]

    assert unresolved_senders(parties, OWN) == [Address("Tom", "tom@contoso.example")]
    assert unresolved_senders(parties[1:], OWN) == []


# --- people -------------------------------------------------------------------------------


def test_privileges_of_joins_the_privileges_of_every_role_held() -> None:
    # A user with several roles may do what any of them allows; unknown role ids add nothing.
    roles = {
        1: SecurityRole("Tracker", frozenset({Privilege.TRACK_EMAIL})),
        2: SecurityRole("Reader", frozenset({Privilege.READ_ACTIVITIES, Privilege.TRACK_EMAIL})),
    }

    assert privileges_of(frozenset({1, 2, 99}), roles) == frozenset(
        {Privilege.TRACK_EMAIL, Privilege.READ_ACTIVITIES}
    )
    assert privileges_of(frozenset(), roles) == frozenset()


def test_the_standard_roles_are_the_administrator_the_tracking_role_and_two_examples() -> None:
    # The administrator may do everything Organization-wide; the tracking role tracks and
    # reads its own things only (User level); Salesperson and Support are examples.
    admin, tracking, sales, support = standard_roles()

    assert (admin.name, admin.privileges) == (SYSTEM_ADMINISTRATOR, frozenset(Privilege))
    assert {admin.level_of(p) for p in Privilege} == {AccessLevel.ORGANIZATION}
    assert (tracking.name, tracking.privileges) == (
        TRACKING_ROLE,
        frozenset(
            {
                Privilege.TRACK_EMAIL,
                Privilege.READ_ACTIVITIES,
                Privilege.READ_MAILBOXES,
                Privilege.READ_RECORDS,
                Privilege.READ_USER_SETTINGS,
                Privilege.WRITE_USER_SETTINGS,
            }
        ),
    )
    assert {tracking.level_of(p) for p in tracking.privileges} == {AccessLevel.USER}
    assert (sales.name, support.name) == ("Salesperson", "Support")
    assert sales.level_of(Privilege.READ_ACTIVITIES) is AccessLevel.BUSINESS_UNIT
    assert sales.level_of(Privilege.WRITE_RECORDS) is AccessLevel.USER
    assert support.level_of(Privilege.READ_ACTIVITIES) is AccessLevel.USER
    assert support.level_of(Privilege.READ_RECORDS) is AccessLevel.BUSINESS_UNIT
    assert support.level_of(Privilege.WRITE_SETTINGS) is AccessLevel.NONE


@pytest.mark.parametrize(
    ("option", "label"),
    [
        (TrackIncoming.ALL, "All email messages"),
        (TrackIncoming.IN_RESPONSE, "Email messages in response to email"),
        (TrackIncoming.FROM_CUSTOMERS, "Email messages from Leads, Contacts, and Accounts"),
        (
            TrackIncoming.FROM_EMAIL_ENABLED,
            "Email messages from records that are email enabled",
        ),
        (TrackIncoming.NONE, "No email messages"),
    ],
)
def test_track_incoming_labels_are_d365s_exact_names(option: TrackIncoming, label: str) -> None:
    # Admins see the option in D365's own words.
    assert option.label == label


def test_the_default_track_incoming_option_is_email_in_response_to_email() -> None:
    # D365's default personal option.
    assert PersonalOptions().track_incoming is TrackIncoming.IN_RESPONSE
