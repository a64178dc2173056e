"""Empty or unreadable input is not an email: it is kept, and parked with the reason.

An empty file, or bytes with no header block (binary junk, a body saved without its
headers), would otherwise become an email activity with no sender, no recipients and no
subject. They are kept exactly like any email and parked ("empty message", "no header
block"), from ``tidings ingest`` (files, Maildir, mbox) as from a sync (see
test_sync_raw_store.py).
"""

from __future__ import annotations

import mailbox
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.builders import Org, TickingClock, make_email
from tests.conftest import TEST_SECRET_KEY, settings_for
from tidings.bootstrap import bootstrap
from tidings.domain.message import MessageOrigin
from tidings.domain.stored import ActivityFilter
from tidings.domain.tracking import Outcome
from tidings.entrypoints.cli.main import app

runner = CliRunner()

_PNG = b"\x89PNG\r\n\x1a\n" + random.Random(1).randbytes(2048)
_BODY_ONLY = b"Hello Dana,\r\n\r\ncould you send the quote?\r\n\r\nMaria\r\n"

NOT_EMAIL = [
    pytest.param(b"", "empty message", id="empty"),
    pytest.param(b"\0" * 512, "empty message", id="only-nul-bytes"),
    pytest.param(b"\r\n\r\n \t\r\n", "empty message", id="only-blank-lines"),
    pytest.param(_PNG, "no header block", id="binary-junk"),
    pytest.param(_BODY_ONLY, "no header block", id="body-without-headers"),
    pytest.param(b"<html><body><p>Quote</p></body></html>\r\n", "no header block", id="html"),
    pytest.param(b"\r\nFrom: maria@contoso.example\r\n\r\nHi", "no header block", id="blank-first"),
    pytest.param(b"From", "no header block", id="cut-inside-the-first-name"),
    pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "no header block", id="a-pdf"),
]


@pytest.mark.parametrize(("raw", "reason"), NOT_EMAIL)
def test_bytes_that_are_not_an_email_are_kept_and_parked_with_the_reason(
    org: Org, raw: bytes, reason: str
) -> None:
    # Kept byte for byte, parked with the reason, and no activity with no sender.
    result = org.deliver(raw)

    assert (result.outcome, result.summary) == (Outcome.PARKED, f"parked: {reason}")
    with org.tidings.uow() as uow:
        assert uow.raw_messages.require(result.raw_message_id).raw == raw
    (parked,) = org.tidings.queries.parked()
    assert (parked.raw_message_id, parked.error_type) == (result.raw_message_id, reason)
    assert parked.error  # the explanation people read
    assert org.tidings.queries.activities(ActivityFilter()).total == 0
    explained = org.tidings.explain.by_raw_id(result.raw_message_id)
    assert explained.parked_error == parked.error


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"Subject : obsolete spacing\r\n\r\nBody\r\n", id="obsolete-colon-spacing"),
        pytest.param(b"X-Only: one header\r\n", id="a-header-and-nothing-else"),
        pytest.param(
            b"From maria@contoso.example Thu Nov 19 10:30:00 2026\r\n" + make_email(),
            id="mbox-envelope-line-left-on",
        ),
        pytest.param(b"\0\0\0" + make_email(message_id="<nul-first@c>"), id="nul-bytes-first"),
    ],
)
def test_bytes_that_start_with_a_header_field_are_decided_as_email(org: Org, raw: bytes) -> None:
    # However thin or odd, a header block makes it an email: decided, never parked for it.
    result = org.deliver(raw)
    assert result.outcome in (Outcome.TRACKED, Outcome.NOT_TRACKED), result.summary


def test_replaying_an_empty_message_parks_it_again_with_another_attempt(org: Org) -> None:
    # Nothing about it changes on replay: it stays parked, and the attempt is counted.
    result = org.deliver(b"")
    (again,) = org.tidings.replay.replay_all()
    assert (again.raw_message_id, again.outcome) == (result.raw_message_id, Outcome.PARKED)
    (parked,) = org.tidings.queries.parked()
    assert parked.attempts == 2


def test_a_batch_with_junk_in_it_tracks_everything_else(org: Org) -> None:
    # One batch, as a sync hands over: the junk parks, the email around it is tracked.
    emails = [make_email(message_id=f"<around-{n}@c>") for n in range(4)]
    emails[1:1] = [b"", _PNG]
    results = org.tidings.ingest.ingest_batch(
        [(raw, org_origin(org, n)) for n, raw in enumerate(emails)]
    )
    assert [r.outcome for r in results] == [
        Outcome.TRACKED,
        Outcome.PARKED,
        Outcome.PARKED,
        Outcome.TRACKED,
        Outcome.TRACKED,
        Outcome.TRACKED,
    ]


def org_origin(org: Org, number: int) -> MessageOrigin:
    return MessageOrigin(org.mailboxes["dana"], "INBOX", 1, f"junk-{number}")


# --- tidings ingest ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str) -> Iterator[dict[str, str]]:
    """An organization in a database of each kind, and the environment of the command."""
    tidings = bootstrap(settings_for(database_url), clock=TickingClock())
    Org.create(tidings)
    tidings.close()
    yield {
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_PARSE_WORKERS": "0",
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "COLUMNS": "200",
    }


def test_tidings_ingest_parks_empty_and_headerless_files_maildir_and_mbox_messages(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    # Every on-disk shape: the junk in it is parked with the reason and listed as such.
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(b"")
    maildir.add(make_email(message_id="<md@c.example>"))
    mbox = mailbox.mbox(tmp_path / "archive.mbox", create=True)
    mbox.add(make_email(message_id="<mb@c.example>"))
    mbox.add(_BODY_ONLY)
    mbox.flush()
    (tmp_path / "empty.eml").write_bytes(b"")
    (tmp_path / "junk.eml").write_bytes(_PNG)
    paths = [tmp_path / "Maildir", tmp_path / "archive.mbox", tmp_path / "empty.eml"]
    paths.append(tmp_path / "junk.eml")
    args = ["ingest", *map(str, paths), "--mailbox", "dana@northwind.example"]

    result = runner.invoke(app, args, env=cli_env)

    assert result.exit_code == 0, result.output
    assert "6 email(s) into dana@northwind.example/INBOX: 2 tracked, 0 not tracked, " in (
        result.output
    )
    # The two empty ones are one email: same bytes, same place (a file has no UID).
    assert "4 parked (1 seen before, unchanged)" in result.output
    listed = runner.invoke(app, ["parked"], env=cli_env)
    assert listed.output.count("empty message") == 1
    assert listed.output.count("no header block") == 2
