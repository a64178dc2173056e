"""The composition root: the only module that builds adapters and hands them to services."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from tidings.adapters.clock import SystemClock
from tidings.adapters.demo_mailbox import load_sample_mailbox
from tidings.adapters.html_sanitizer import Nh3HtmlSanitizer
from tidings.adapters.imap.client import ImapFolderSession
from tidings.adapters.imap.folder_list import ImapFolderLister
from tidings.adapters.imap.sent import save_sent_copy
from tidings.adapters.logs import configure_logging
from tidings.adapters.mail_files import MailFile, find_messages
from tidings.adapters.mail_servers import MailServerTester
from tidings.adapters.oauth.tokens import OAuthTokens
from tidings.adapters.parsing import InlineParser, ProcessPoolParser
from tidings.adapters.passwords import Argon2PasswordHasher
from tidings.adapters.pop3 import Pop3Mailbox
from tidings.adapters.secrets import FernetSecretBox
from tidings.adapters.smtp_sender import SmtpSender
from tidings.adapters.storage.database import describe_url, is_schema_current, make_engine
from tidings.adapters.storage.metrics_reader import SqlMetricsReader
from tidings.adapters.storage.unit_of_work import SqlAlchemyUnitOfWork
from tidings.adapters.webhook_sender import HttpxWebhookSender
from tidings.adapters.webhook_targets import WebhookTargetPolicy
from tidings.config import Settings, read_settings
from tidings.domain.credentials import Credential
from tidings.domain.errors import UserError
from tidings.domain.mail_api import PushReply
from tidings.domain.retry import Backoff
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.domain.testing import ConnectionCheck
from tidings.domain.webhooks import RetryPolicy
from tidings.services.access import AccessService
from tidings.services.addin import AddinService
from tidings.services.admin_grids import AdminGridService
from tidings.services.business_units import BusinessUnitService
from tidings.services.compose import ComposeService
from tidings.services.demo import DemoService, DemoSummary
from tidings.services.email_settings import EmailSettingsService
from tidings.services.explain import ExplainService
from tidings.services.folder_picker import FolderLister, FolderPicker
from tidings.services.mail_push import MailPushService, PushReceiver
from tidings.services.mailbox_bulk import MailboxBulkService
from tidings.services.mailbox_import import MailboxImportService
from tidings.services.mailbox_setup import MailboxSetupService
from tidings.services.mailboxes import MAX_PARALLEL_TESTS, ConnectionTester, MailboxAdminService
from tidings.services.manual_tracking import ManualTrackingService
from tidings.services.observability import ObservabilityService
from tidings.services.outgoing import MailSender, OutgoingService
from tidings.services.parked_admin import ParkedEmailService
from tidings.services.people import PeopleService
from tidings.services.personal_options import PersonalOptionsService
from tidings.services.ports import Clock, PushRelay, UnitOfWork
from tidings.services.queries import QueryService
from tidings.services.record_import import RecordImportService
from tidings.services.records import RecordService
from tidings.services.saved_views import SavedViewService
from tidings.services.server_profiles import ServerProfileService
from tidings.services.setup import SetupService
from tidings.services.sign_in_forms import SignInForms
from tidings.services.sync import SyncService
from tidings.services.sync.holding import MailboxHolding, worker_name
from tidings.services.sync.model import DeltaOpener, DeltaSession, SyncEvent
from tidings.services.track_when_sent import TrackWhenSentService
from tidings.services.tracking.pipeline import IngestService, ReplayService
from tidings.services.webhooks import WebhookService

if TYPE_CHECKING:
    # Imported where used: a process on SQLite never loads the task queue.
    from tidings.adapters.task_queue.procrastinate_queue import SubjectTask

#: How often, on PostgreSQL, new webhook events are handed out and due deliveries deferred.
WEBHOOK_SWEEP_SECONDS = 2
#: Emails one worker sends at once, and webhook deliveries it tries at once (PostgreSQL).
SEND_CONCURRENCY = 4
WEBHOOK_CONCURRENCY = 50


@dataclass(frozen=True)
class MailApi:
    """What a kind of profile reached through a vendor's API brings: how to open one folder
    of a mailbox, how to send, and Test & Enable's checks."""

    open_folder: DeltaOpener
    sender: MailSender
    tester: ConnectionTester
    #: Receives the API's change notifications, when it sends any (Graph subscriptions,
    #: Gmail's Pub/Sub pushes).
    push: PushReceiver | None = None
    #: Lists the mailbox's folders for folder-level tracking's picker, where it can.
    folder_lister: FolderLister | None = None


def mail_apis(now: Callable[[], datetime] | None = None) -> dict[ServerProfileKind, MailApi]:
    """The adapters of Exchange Online (Graph), Exchange Server (EWS) and Gmail, by kind;
    ``now`` (Tidings' clock) times the renewals of Graph subscriptions and Gmail watches."""
    # Imported here: msal, exchangelib and google-auth take seconds to import, and most
    # commands never talk to a mail API (``LazyMailApis`` defers this call to first use).
    from tidings.adapters.ews.folder_list import EwsFolderLister
    from tidings.adapters.ews.sender import EwsSender
    from tidings.adapters.ews.session import EwsFolderOpener
    from tidings.adapters.ews.tester import EwsTester
    from tidings.adapters.gmail import GmailApi
    from tidings.adapters.graph.folder_list import GraphFolderLister
    from tidings.adapters.graph.notifications import GraphNotificationHub
    from tidings.adapters.graph.sender import GraphSender
    from tidings.adapters.graph.session import GraphDeltaOpener
    from tidings.adapters.graph.tester import GraphTester
    from tidings.adapters.graph.tokens import GraphTokens

    now = now or SystemClock().now
    gmail = GmailApi(now)
    graph_tokens, graph_hub = GraphTokens(), GraphNotificationHub()
    return {
        ServerProfileKind.EXCHANGE_SERVER: MailApi(
            open_folder=EwsFolderOpener(tokens=graph_tokens),
            sender=EwsSender(graph_tokens),
            tester=EwsTester(graph_tokens),
            folder_lister=EwsFolderLister(graph_tokens),
        ),
        ServerProfileKind.EXCHANGE_ONLINE: MailApi(
            open_folder=GraphDeltaOpener(graph_tokens, graph_hub, now=now),
            sender=GraphSender(graph_tokens),
            tester=GraphTester(graph_tokens),
            push=graph_hub,
            folder_lister=GraphFolderLister(graph_tokens),
        ),
        ServerProfileKind.GMAIL: MailApi(
            open_folder=gmail.open_folder,
            sender=gmail.sender,
            tester=gmail.tester,
            push=gmail.push,
            folder_lister=gmail.folder_lister,
        ),
    }


#: The kinds whose mail API lists folders for the picker (``MailApi.folder_lister``).
FOLDER_LIST_KINDS = (
    ServerProfileKind.EXCHANGE_SERVER,
    ServerProfileKind.EXCHANGE_ONLINE,
    ServerProfileKind.GMAIL,
)
#: The kinds whose mail API sends change notifications (``MailApi.push``).
PUSH_KINDS = (ServerProfileKind.EXCHANGE_ONLINE, ServerProfileKind.GMAIL)


class LazyMailApis:
    """``mail_apis()``, built on first use and shared by everything handed out here."""

    def __init__(self, build: Callable[[], dict[ServerProfileKind, MailApi]] = mail_apis) -> None:
        self._build = build
        self._apis: dict[ServerProfileKind, MailApi] | None = None
        self._lock = threading.Lock()

    def get(self, kind: ServerProfileKind) -> MailApi:
        with self._lock:
            if self._apis is None:
                self._apis = self._build()
            return self._apis[kind]

    @property
    def built(self) -> bool:
        return self._apis is not None

    def kinds(self) -> list[ServerProfileKind]:
        return [ServerProfileKind.EXCHANGE_SERVER, *PUSH_KINDS]

    def openers(self) -> dict[ServerProfileKind, DeltaOpener]:
        return {kind: _LazyOpener(self, kind) for kind in self.kinds()}

    def senders(self) -> dict[ServerProfileKind, MailSender]:
        return {kind: _LazySender(self, kind) for kind in self.kinds()}

    def testers(self) -> dict[ServerProfileKind, ConnectionTester]:
        return {kind: _LazyTester(self, kind) for kind in self.kinds()}

    def folder_listers(self) -> dict[ServerProfileKind, FolderLister]:
        return {kind: _LazyFolderLister(self, kind) for kind in FOLDER_LIST_KINDS}

    def receivers(self) -> dict[ServerProfileKind, PushReceiver]:
        return {kind: _LazyReceiver(self, kind) for kind in PUSH_KINDS}


@dataclass(frozen=True)
class _LazyOpener:
    apis: LazyMailApis
    kind: ServerProfileKind

    async def __call__(
        self, profile: ServerProfile, credential: Credential, address: str, folder: str
    ) -> DeltaSession:
        return await self.apis.get(self.kind).open_folder(profile, credential, address, folder)


@dataclass(frozen=True)
class _LazySender:
    apis: LazyMailApis
    kind: ServerProfileKind

    async def send(
        self,
        profile: ServerProfile,
        credential: Credential | None,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        before_data: Callable[[], Awaitable[None]],
    ) -> None:
        sender = self.apis.get(self.kind).sender
        await sender.send(profile, credential, envelope_from, recipients, raw, before_data)


@dataclass(frozen=True)
class _LazyTester:
    apis: LazyMailApis
    kind: ServerProfileKind

    async def check_incoming(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> ConnectionCheck:
        return await self.apis.get(self.kind).tester.check_incoming(profile, credential, address)

    async def check_outgoing(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> ConnectionCheck:
        return await self.apis.get(self.kind).tester.check_outgoing(profile, credential, address)


@dataclass(frozen=True)
class _LazyFolderLister:
    apis: LazyMailApis
    kind: ServerProfileKind

    async def list_folders(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> list[str]:
        lister = self.apis.get(self.kind).folder_lister
        assert lister is not None  # noqa: S101 - only FOLDER_LIST_KINDS are handed out
        return await lister.list_folders(profile, credential, address)


@dataclass(frozen=True)
class _LazyReceiver:
    apis: LazyMailApis
    kind: ServerProfileKind

    def receive(
        self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]
    ) -> PushReply:
        return self._push().receive(query, body, headers)

    def triage(
        self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]
    ) -> tuple[PushReply, bool]:
        # Without building the mail APIs (seconds of imports): a web process that relays
        # never needs them, and Graph wants its handshake answered within 10 seconds.
        if self.kind is ServerProfileKind.EXCHANGE_ONLINE:
            from tidings.adapters.graph.notifications import triage
        else:
            from tidings.adapters.gmail.push import triage
        return triage(query, body, headers)

    def wake_all(self) -> None:
        if self.apis.built:  # else no session of this kind was ever opened here
            self._push().wake_all()

    def _push(self) -> PushReceiver:
        push = self.apis.get(self.kind).push
        if push is None:
            raise LookupError(f"{self.kind} sends no change notifications")
        return push


@dataclass
class Tidings:
    """Every service of one Tidings process, wired to its database."""

    settings: Settings
    engine: Engine
    uow: Callable[[], UnitOfWork]
    clock: Clock
    ingest: IngestService
    replay: ReplayService
    explain: ExplainService
    queries: QueryService
    demo: DemoService
    parser: InlineParser | ProcessPoolParser
    mailboxes: MailboxAdminService
    #: The Mailboxes grid's command bar: one action on many mailboxes, a result per row.
    mailbox_bulk: MailboxBulkService
    #: Each user's named views of the console's grids.
    saved_views: SavedViewService
    sync: SyncService
    outgoing: OutgoingService
    secrets: FernetSecretBox
    setup: SetupService
    access: AccessService
    sanitizer: Nh3HtmlSanitizer
    # Administration: what the console and the REST API call, privileges checked inside.
    email_settings: EmailSettingsService
    server_profiles: ServerProfileService
    mailbox_setup: MailboxSetupService
    admin_grids: AdminGridService
    #: Many users and mailboxes at once, from CSV or JSON.
    mailbox_import: MailboxImportService
    people: PeopleService
    #: Business units and queue members: the circles of access levels.
    business_units: BusinessUnitService
    personal_options: PersonalOptionsService
    folder_picker: FolderPicker
    manual_tracking: ManualTrackingService
    track_when_sent: TrackWhenSentService
    addin: AddinService
    parked: ParkedEmailService
    records: RecordService
    record_import: RecordImportService
    webhooks: WebhookService
    #: Change notifications from mail APIs (Graph, Gmail) to the sync sessions.
    mail_push: MailPushService
    #: Readiness and metrics for operators.
    observability: ObservabilityService
    #: Email written in the CRM: drafts, replies, sending and retrying.
    compose: ComposeService
    #: CSRF tokens of the sign-in form, which comes before any session.
    sign_in_forms: SignInForms

    def find_mail_files(self, paths: list[Path]) -> list[MailFile]:
        """Email on disk: files, Maildirs and mbox files."""
        return find_messages(paths)

    def load_demo(self) -> DemoSummary:
        """Create the demo organization and ingest the bundled sample mailbox (once)."""
        return self.demo.load(load_sample_mailbox())

    @property
    def database_label(self) -> str:
        """Where the database is, without its password."""
        return describe_url(self.settings.database_url)

    def require_current_schema(self) -> None:
        """Fail with what to do when the database was never created or is behind."""
        if not is_schema_current(self.engine):
            raise UserError(
                f"the database at {self.database_label} is not up to date: "
                "run `tidings db upgrade` first"
            )

    def upgrade_database(self) -> None:
        """Apply every pending migration."""
        # Imported here: Alembic (about 11 MB) is for the commands that migrate, never for a
        # worker or web process, which only check that the schema is current.
        from tidings.adapters.storage.migrate import upgrade

        upgrade(self.settings.database_url)

    def mailbox_holding(self) -> MailboxHolding | None:
        """On PostgreSQL, this worker's part in sharing the mailboxes with every other
        worker; None on SQLite, where the one process syncs them all."""
        if self.engine.dialect.name != "postgresql":
            return None
        from tidings.adapters.task_queue.deferral import (
            TEST_TASK,
            WEBHOOK_TASK,
            test_lock,
            webhook_lock,
        )
        from tidings.adapters.task_queue.procrastinate_queue import (
            Chore,
            ProcrastinateQueue,
            QueueTiming,
            SubjectTask,
        )

        timing = QueueTiming(self.settings.takeover_seconds)
        name = worker_name()
        outgoing, webhooks = self.outgoing, self.webhooks
        send = self._send_task()
        policy = webhooks.policy
        deliver = SubjectTask(
            WEBHOOK_TASK,
            "delivery_id",
            webhook_lock,
            webhooks.deliver_one,
            webhooks.give_up,
            policy.max_attempts,
            Backoff(policy.base.total_seconds(), policy.cap.total_seconds()),
            concurrency=WEBHOOK_CONCURRENCY,
        )
        admin = self.mailboxes
        # Test & Enable is not retried on a failed check (that is its result), only when it
        # could not run at all.
        test = SubjectTask(
            TEST_TASK,
            "mailbox_id",
            test_lock,
            admin.test_queued,
            admin.test_failed,
            3,
            Backoff(30),
            concurrency=MAX_PARALLEL_TESTS,
        )
        # Done by one worker for all.
        chores = [Chore("forget_old_webhook_events", "0 * * * *", webhooks.prune)]
        queue = ProcrastinateQueue(
            self.settings.database_url,
            timing,
            name=name,
            chores=chores,
            tasks=[send, deliver, test],
            pool_size=self.settings.task_queue_pool_size,
        )

        async def sweep_outbox() -> None:
            await outgoing.sweep(functools.partial(queue.defer_subjects, send))

        async def sweep_webhooks() -> None:
            await webhooks.sweep(functools.partial(queue.defer_subjects, deliver))

        retention = self.settings.job_retention_days

        async def forget_finished_jobs() -> None:
            await queue.forget_finished_jobs(retention)

        queue.add_chore(Chore("forget_finished_jobs", "30 * * * *", forget_finished_jobs))
        queue.add_chore(Chore("sweep_outbox", f"* * * * * */{timing.period}", sweep_outbox))
        # As often as the webhook loop looked: events reach receivers within seconds.
        queue.add_chore(
            Chore("sweep_webhooks", f"* * * * * */{WEBHOOK_SWEEP_SECONDS}", sweep_webhooks)
        )
        sync = self.sync

        def wanted() -> set[int]:
            # The worker's own loop reads them as often: a read of the last half period
            # serves both.
            return {target.mailbox_id for target in sync.targets(timing.period / 2)}

        return MailboxHolding(
            self.uow, queue, self.clock, wanted, refresh_seconds=timing.recount, worker=name
        )

    async def defer_missing_sends(self) -> int | None:
        """On PostgreSQL, a send task for each unfinished email that has none, beside any
        live workers (``OutgoingService.defer_missing``): how many. None on SQLite, where
        there is no task queue and the one process sends."""
        if self.engine.dialect.name != "postgresql":
            return None
        from tidings.adapters.task_queue.procrastinate_queue import (
            ProcrastinateQueue,
            QueueTiming,
        )

        send = self._send_task()
        timing = QueueTiming(self.settings.takeover_seconds)
        queue = ProcrastinateQueue(
            self.settings.database_url,
            timing,
            name=worker_name(),
            pool_size=self.settings.task_queue_pool_size,
        )
        async with queue.app.open_async():
            return await self.outgoing.defer_missing(functools.partial(queue.defer_subjects, send))

    def _send_task(self) -> SubjectTask:
        from tidings.adapters.task_queue.deferral import SEND_TASK, send_lock
        from tidings.adapters.task_queue.procrastinate_queue import SubjectTask

        outgoing = self.outgoing
        return SubjectTask(
            SEND_TASK,
            "activity_id",
            send_lock,
            outgoing.send_one,
            outgoing.give_up,
            outgoing.max_attempts,
            outgoing.backoff,
            concurrency=SEND_CONCURRENCY,
        )

    def log_to_standard_error(self) -> None:
        """A long-running process's log records on standard error, in the configured format,
        with their time and level, redacted."""
        configure_logging(self.settings.log_format)

    def close(self) -> None:
        self.parser.close()
        self.engine.dispose()


def bootstrap(
    settings: Settings | None = None,
    clock: Clock | None = None,
    listener: Callable[[SyncEvent], None] | None = None,
) -> Tidings:
    """Build a Tidings process from ``settings`` (read from the environment by default)."""
    settings = settings or read_settings()
    if settings.log_format == "json":
        # Every command's records as JSON; text lines only for the long-running ones
        # (``configure_logging`` in the CLI), where a table on standard output is not mixed
        # with library chatter.
        configure_logging("json")
    clock = clock or SystemClock()
    engine = make_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )

    def uow() -> UnitOfWork:
        return SqlAlchemyUnitOfWork(engine)

    def reads() -> UnitOfWork:
        return SqlAlchemyUnitOfWork(engine, read_only=True)

    passwords = Argon2PasswordHasher(settings.password_hashing)
    parser = _parser(settings.parse_workers, settings.parse_idle_seconds)
    # Graph subscriptions and Gmail watches are renewed by Tidings' clock.
    apis = LazyMailApis(functools.partial(mail_apis, clock.now))
    ingest = IngestService(uow, clock, parser)
    secrets = FernetSecretBox.from_environment(settings.secret_keys, settings.secret_key_file)
    setup = SetupService(uow, passwords)
    replay = ReplayService(uow, ingest)
    # One cache of OAuth access tokens for sync, outgoing and Test & Enable (XOAUTH2).
    tokens = OAuthTokens()
    webhook_targets = WebhookTargetPolicy(allow_private=settings.webhook_allow_private)
    admin = MailboxAdminService(
        uow, secrets, MailServerTester(tokens), clock, api_testers=apis.testers()
    )
    return Tidings(
        settings=settings,
        engine=engine,
        uow=uow,
        clock=clock,
        ingest=ingest,
        replay=replay,
        explain=ExplainService(uow),
        queries=QueryService(uow, clock, shared_mailboxes=engine.dialect.name == "postgresql"),
        demo=DemoService(uow, ingest, passwords, clock),
        parser=parser,
        mailboxes=admin,
        mailbox_bulk=MailboxBulkService(uow, admin, clock),
        saved_views=SavedViewService(uow, clock),
        sync=SyncService(
            uow,
            ingest,
            secrets,
            partial(ImapFolderSession.open, tokens=tokens),
            clock,
            listener=listener,
            pop3_opener=Pop3Mailbox.open,
            delta_openers=apis.openers(),
            reads=reads,
        ),
        outgoing=OutgoingService(
            uow,
            secrets,
            SmtpSender(tokens),
            clock,
            partial(save_sent_copy, tokens=tokens),
            api_senders=apis.senders(),
            max_attempts=settings.send_attempts,
            backoff=Backoff(settings.retry_first_seconds),
        ),
        secrets=secrets,
        setup=setup,
        access=AccessService(uow, passwords, clock, setup),
        sanitizer=Nh3HtmlSanitizer(),
        email_settings=EmailSettingsService(uow),
        server_profiles=ServerProfileService(uow, secrets, clock),
        mailbox_setup=MailboxSetupService(uow, clock),
        admin_grids=AdminGridService(uow),
        mailbox_import=MailboxImportService(uow, secrets, clock),
        people=PeopleService(uow, passwords),
        business_units=BusinessUnitService(uow),
        personal_options=PersonalOptionsService(uow),
        folder_picker=FolderPicker(
            uow, secrets, ImapFolderLister(tokens), api_listers=apis.folder_listers()
        ),
        manual_tracking=ManualTrackingService(uow, clock),
        track_when_sent=TrackWhenSentService(uow, clock),
        addin=AddinService(uow, ExplainService(uow), QueryService(uow, clock)),
        parked=ParkedEmailService(uow, replay),
        records=RecordService(uow),
        record_import=RecordImportService(uow),
        webhooks=WebhookService(
            uow,
            secrets,
            HttpxWebhookSender(webhook_targets),
            clock,
            policy=RetryPolicy(base=timedelta(seconds=settings.retry_first_seconds)),
            retention=timedelta(days=settings.webhook_retention_days),
            targets=webhook_targets,
        ),
        mail_push=MailPushService(apis.receivers(), _push_relay(engine, settings.database_url)),
        observability=ObservabilityService(SqlMetricsReader(engine), clock),
        compose=ComposeService(uow, clock, Nh3HtmlSanitizer()),
        sign_in_forms=SignInForms(secrets, clock),
    )


def _push_relay(engine: Engine, url: str) -> PushRelay | None:
    """Between processes on PostgreSQL; SQLite is one process, which needs no relay."""
    if engine.dialect.name != "postgresql":
        return None
    from tidings.adapters.storage.push_relay import PostgresPushRelay

    return PostgresPushRelay(engine, url)


def _parser(workers: int | None, idle_seconds: float) -> InlineParser | ProcessPoolParser:
    """Parse in worker processes when there are cores to spare, unless told otherwise."""
    count = (os.cpu_count() or 1) if workers is None else workers
    return ProcessPoolParser(count, idle_seconds=idle_seconds) if count > 1 else InlineParser()
