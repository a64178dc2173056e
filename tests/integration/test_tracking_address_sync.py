"""The tracking address as a real Dovecot mailbox that Tidings syncs, on both databases:
email Bcc'd or forwarded there is tracked once for the user who sent it, through real ingest."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from tests.builders import Org, dovecot_profile, make_email
from tests.integration.sync_run import USERS, SyncRun, org_syncing, service_for
from tests.servers.dovecot import DovecotServer
from tidings.domain.activity import Direction
from tidings.domain.people import TrackIncoming
from tidings.domain.stored import ActivityFilter
from tidings.domain.tracking import Outcome

CRM = "crm@northwind.example"


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[DovecotServer]:
    # A short private directory: Dovecot's socket paths are near their 80-character limit.
    with (
        tempfile.TemporaryDirectory(prefix="dv-") as short,
        DovecotServer(Path(short), {**USERS, CRM: "crm-pass"}) as running,
    ):
        yield running


@pytest.fixture
def crm_syncing(mail: DovecotServer, database_url: str) -> Iterator[tuple[Org, SyncRun]]:
    with org_syncing(database_url, users=("dana",)) as (org, run):
        org.add_queue("crm", TrackIncoming.ALL)
        org.configure(tracking_address=CRM)
        org.add_folder_rule("dana", "Sent")
        org.use_profile(dovecot_profile(mail), {"dana": "dana-pass", "crm": "crm-pass"})
        yield org, run


def test_bcc_and_forwards_to_the_tracking_mailbox_are_tracked_once_for_the_sender(
    crm_syncing: tuple[Org, SyncRun], mail: DovecotServer
) -> None:
    org, run = crm_syncing
    # Dana writes to Maria with the tracking address in Bcc: the copy delivered there and the
    # copy in her Sent folder are the same email.
    sent = make_email(
        sender="dana@northwind.example",
        to="maria@contoso.example",
        subject="Your quote",
        message_id="<sent-bcc@northwind.example>",
    )
    mail.deliver(CRM, sent)
    mail.deliver("dana@northwind.example", sent, folder="Sent")
    # She forwards Lena's email inline, as Gmail writes it.
    forward = EmailMessage()
    forward["From"] = "Dana <dana@northwind.example>"
    forward["To"] = CRM
    forward["Subject"] = "Fwd: Demo next week"
    forward["Message-ID"] = "<fwd-lena@northwind.example>"
    forward.set_content(
        "---------- Forwarded message ---------\nFrom: Lena Fischer <lena@tailspin.example>\n"
        "Date: Thu, Nov 19, 2026 at 10:30 AM\nSubject: Demo next week\n"
        "To: Dana <dana@northwind.example>\n\n\nCould we see a demo?\n"
    )
    mail.deliver(CRM, forward.as_bytes(policy=SMTP))
    # Someone who is not a user writes to the tracking address.
    mail.deliver(CRM, make_email(sender="maria@contoso.example", to=CRM, subject="Hello CRM"))

    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 4)

    page = org.tidings.queries.activities(ActivityFilter(limit=50))
    by_subject = {a.subject: a for a in page.items}
    assert sorted(by_subject) == ["Demo next week", "Your quote"]
    dana = org.users["dana"].ref
    assert all(a.owner == dana for a in page.items)
    assert by_subject["Your quote"].direction is Direction.OUTGOING
    assert by_subject["Demo next week"].direction is Direction.INCOMING
    lena = {p.address: p.party for p in by_subject["Demo next week"].parties}
    assert lena["lena@tailspin.example"] == org.records["lena"]
    outcomes = sorted((r.outcome, r.summary) for r in run.results)
    # Whichever copy of "Your quote" came second (the folders sync side by side) found it
    # tracked for Dana already.
    assert [o for o, _ in outcomes].count(Outcome.TRACKED) == 2
    assert any("already tracked for" in summary for _, summary in outcomes)
    assert (
        Outcome.NOT_TRACKED,
        "not tracked: the sender maria@contoso.example is not a Tidings user",
    ) in outcomes
