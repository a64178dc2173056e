"""The demo organization: Northwind Traders, its people, customers and a sample mailbox.

Everything is created through the same repositories and the real ingest path a production
organization uses, so a newcomer sees real decisions and real activities at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tidings.domain.activity import (
    ActivityParty,
    ActivityStatus,
    CorrelationMethod,
    Direction,
    EmailActivity,
    ParticipationRole,
)
from tidings.domain.correlation import subject_key
from tidings.domain.folders import FolderTrackingRule, check_folder_rules
from tidings.domain.mailbox import Alert, AlertLevel, Mailbox, TestStatus
from tidings.domain.message import MessageOrigin
from tidings.domain.people import (
    SYSTEM_ADMINISTRATOR,
    TRACKING_ROLE,
    PersonalOptions,
    Queue,
    TrackIncoming,
    User,
    standard_roles,
)
from tidings.domain.record_fields import CrmRecord
from tidings.domain.records import (
    Account,
    Case,
    Contact,
    Lead,
    Opportunity,
    RecordKind,
    RecordRef,
)
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile, ServerProfileKind
from tidings.domain.settings import EmailConfiguration
from tidings.domain.tracking import Outcome
from tidings.services.business_units import ensure_root_unit
from tidings.services.ports import Clock, PasswordHasher, UnitOfWork
from tidings.services.tracking.pipeline import IngestService

ADMIN_EMAIL = "admin@northwind.example"
ADMIN_PASSWORD = "northwind-demo"  # noqa: S105 - the demo's published login, printed by `demo`
#: Users who hold only the tracking role and sign in with the same password, to see what a
#: User-level role shows: their own mailbox's email and the customers they own.
TRACKING_USERS = ("dana@northwind.example", "sam@northwind.example")
#: The email the CRM "sent" before the sample mailbox arrived; replies correlate to it.
QUOTE_MESSAGE_ID = "<quote-0001@northwind.example>"
QUOTE_TOKEN = "CRM:0001001"  # noqa: S105 - a tracking token, not a secret


#: One email of the sample mailbox: (mailbox address, folder, file name, raw bytes).
SampleEmail = tuple[str, str, str, bytes]


@dataclass
class DemoSummary:
    """What loading the demo did."""

    loaded: bool
    outcomes: dict[Outcome, int] = field(default_factory=dict)


class DemoService:
    """Loads the demo organization once; a second call changes nothing."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        ingest: IngestService,
        hasher: PasswordHasher,
        clock: Clock,
    ) -> None:
        self._uow = uow_factory
        self._ingest = ingest
        self._hasher = hasher
        self._clock = clock

    def load(self, samples: Iterable[SampleEmail]) -> DemoSummary:
        with self._uow() as uow:
            if uow.directory.get_user_by_email(ADMIN_EMAIL) is not None:
                return DemoSummary(loaded=False)
            mailboxes = self._create_organization(uow)
            uow.commit()
        summary = DemoSummary(loaded=True)
        for address, folder, name, raw in samples:
            origin = MessageOrigin(mailboxes[address], folder, 1, name)
            result = self._ingest.ingest(raw, origin)
            summary.outcomes[result.outcome] = summary.outcomes.get(result.outcome, 0) + 1
        return summary

    def _create_organization(self, uow: UnitOfWork) -> dict[str, int]:
        uow.settings.save(EmailConfiguration())
        ensure_root_unit(uow, "Northwind Traders")
        roles = {role.name: uow.directory.add_role(role) for role in standard_roles()}
        admin_roles = frozenset({roles[SYSTEM_ADMINISTRATOR], roles[TRACKING_ROLE]})
        tracking = frozenset({roles[TRACKING_ROLE]})
        password = self._hasher.hash(ADMIN_PASSWORD)
        dana_email, sam_email = TRACKING_USERS
        people = [
            User("Alex Admin", ADMIN_EMAIL, admin_roles, password_hash=password),
            User(
                "Dana Reyes",
                dana_email,
                tracking,
                PersonalOptions(TrackIncoming.FROM_CUSTOMERS),
                password_hash=password,
            ),
            User("Sam Okafor", sam_email, tracking, password_hash=password),
            User("Priya Natarajan", "priya@northwind.example", frozenset()),
        ]
        for person in people:
            uow.directory.add_user(person)
        support = Queue(
            "Support",
            "support@northwind.example",
            frozenset(),
            PersonalOptions(TrackIncoming.ALL, create_contacts_for_unknown_senders=True),
        )
        uow.directory.add_queue(support)
        # Stored users have ids; the administrator, Dana and Sam are the first three.
        owners = dict(zip(("admin", "dana", "sam"), (p.id or 0 for p in people), strict=False))
        records = _create_records(uow, owners)
        profile = ServerProfile(
            name="Northwind IMAP",
            kind=ServerProfileKind.IMAP_SMTP,
            incoming_host="imap.northwind.example",
            incoming_port=993,
            outgoing_host="smtp.northwind.example",
            outgoing_port=587,
            outgoing_security=ConnectionSecurity.STARTTLS,
        )
        profile_id = uow.server_profiles.add(profile)
        mailboxes: dict[str, int] = {}
        for owner, address in [(p.ref, p.email) for p in people[1:]] + [
            (support.ref, support.email)
        ]:
            mailbox = Mailbox(address, owner, profile_id)
            mailbox.approve_email()
            mailbox.record_test(
                incoming=TestStatus.SUCCESS,
                outgoing=TestStatus.SUCCESS,
                alerts=[
                    Alert(
                        AlertLevel.INFORMATION,
                        "Demo mailbox: enabled without a server; its email arrives through "
                        "`tidings ingest`.",
                        self._clock.now(),
                    )
                ],
            )
            mailboxes[address] = uow.mailboxes.add(mailbox)
        dana = mailboxes["dana@northwind.example"]
        uow.mailboxes.replace_folder_rules(
            dana,
            check_folder_rules(
                [
                    FolderTrackingRule(dana, "Contoso", records["opportunity"]),
                ]
            ),
        )
        self._record_sent_quote(uow, people[1], dana, records)
        return mailboxes

    def _record_sent_quote(
        self, uow: UnitOfWork, dana: User, mailbox_id: int, records: dict[str, RecordRef]
    ) -> None:
        subject = f"Quote for 500 seats {QUOTE_TOKEN}"
        now = self._clock.now()
        activity = EmailActivity(
            owner=dana.ref,
            mailbox_id=mailbox_id,
            subject=subject,
            direction=Direction.OUTGOING,
            status=ActivityStatus.SENT,
            message_id=QUOTE_MESSAGE_ID,
            received_at=now,
            text_body="Hello Maria,\n\nplease find our quote for 500 seats attached.\n\nDana",
            subject_key=subject_key(subject),
            tracking_token=QUOTE_TOKEN,
            regarding=records["opportunity"],
            correlation=CorrelationMethod.NONE,
            parties=[
                ActivityParty(ParticipationRole.FROM, dana.email, dana.full_name, dana.ref),
                ActivityParty(
                    ParticipationRole.TO,
                    "maria.garcia@contoso.example",
                    "Maria Garcia",
                    records["maria"],
                ),
                ActivityParty(ParticipationRole.OWNER, dana.email, dana.full_name, dana.ref),
            ],
            created_at=now,
        )
        uow.activities.add(activity, QUOTE_MESSAGE_ID)


def _create_records(uow: UnitOfWork, owners: dict[str, int]) -> dict[str, RecordRef]:
    """Northwind's customers, each owned by the user who works with them (D365's *Owner*):
    Dana has Contoso (her quote), Fabrikam (its renewal) and the lead who writes to her; Sam
    has Adventure Works and his lead; the support case is the administrator's. So a user who
    holds only the tracking role (User level) sees their own customers."""
    dana, sam, admin = owners["dana"], owners["sam"], owners["admin"]

    def add(record: CrmRecord, owner_id: int) -> int:
        return uow.records.add(record, owner_id=owner_id)

    contoso = add(Account("Contoso Pharmaceuticals", ("info@contoso.example",)), dana)
    fabrikam = add(Account("Fabrikam, Inc.", ("hello@fabrikam.example",)), dana)
    add(Account("Adventure Works", ("sales@adventure-works.example",)), sam)
    maria_emails = ("maria.garcia@contoso.example", "mgarcia@contoso.example")
    maria = add(Contact("Maria Garcia", maria_emails, contoso), dana)
    add(Contact("Tom Becker", ("tom.becker@contoso.example",), contoso), dana)
    add(Contact("Aiko Tanaka", ("aiko@fabrikam.example",), fabrikam), dana)
    # Two records share this address, to show how ambiguous matches are linked.
    add(Contact("Fabrikam Front Desk", ("hello@fabrikam.example",), fabrikam), dana)
    add(Lead("Lena Fischer", "Tailspin Toys", ("lena@tailspin.example",)), dana)
    add(Lead("Omar Haddad", "Wide World Importers", ("omar@wideworld.example",)), sam)
    opportunity = add(Opportunity("Contoso: 500 seats", contoso), dana)
    case = add(
        Case("Login fails after update", "CAS-01001", RecordRef(RecordKind.ACCOUNT, fabrikam)),
        admin,
    )
    return {
        "opportunity": RecordRef(RecordKind.OPPORTUNITY, opportunity),
        "case": RecordRef(RecordKind.CASE, case),
        "maria": RecordRef(RecordKind.CONTACT, maria),
    }
