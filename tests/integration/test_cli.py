"""The `tidings` command on the embedded default database."""

from __future__ import annotations

import mailbox
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.builders import make_email
from tests.conftest import TEST_SECRET_KEY, settings_for
from tests.e2e.processes import TIDINGS
from tidings.bootstrap import bootstrap
from tidings.domain.records import RecordKind, RecordRef
from tidings.entrypoints.cli.main import app

runner = CliRunner()


@pytest.fixture
def env(sqlite_url: str) -> dict[str, str]:
    return {
        "TIDINGS_DATABASE_URL": sqlite_url,
        "TIDINGS_PARSE_WORKERS": "0",
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "COLUMNS": "200",
    }


@pytest.fixture
def demo(env: dict[str, str]) -> dict[str, str]:
    result = runner.invoke(app, ["demo", "--no-serve"], env=env)
    assert result.exit_code == 0, result.output
    return env


def test_demo_loads_the_sample_mailbox_once_and_prints_the_login(env: dict[str, str]) -> None:
    # A newcomer's first command: demo data through the real ingest path, and how to sign in.
    first = runner.invoke(app, ["demo", "--no-serve"], env=env)
    assert first.exit_code == 0, first.output
    assert "sample mailbox ingested: 8 tracked, 8 not tracked" in first.output
    assert "admin@northwind.example / northwind-demo" in first.output
    second = runner.invoke(app, ["demo", "--no-serve"], env=env)
    assert "Demo organization already present." in second.output


def test_ingest_reads_a_maildir_an_mbox_and_files_and_summarises(
    demo: dict[str, str], tmp_path: Path
) -> None:
    # Every on-disk shape is accepted; the summary counts outcomes; a rerun changes nothing.
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(make_email(sender="maria.garcia@contoso.example", message_id="<md1@c.example>"))
    maildir.add(make_email(sender="news@spam.example", message_id="<md2@c.example>"))
    mbox = mailbox.mbox(tmp_path / "archive.mbox", create=True)
    mbox.add(make_email(sender="tom.becker@contoso.example", message_id="<mb1@c.example>"))
    mbox.flush()
    single = tmp_path / "one.eml"
    single.write_bytes(make_email(sender="lena@tailspin.example", message_id="<f1@c.example>"))
    paths = [str(tmp_path / "Maildir"), str(tmp_path / "archive.mbox"), str(single)]
    args = ["ingest", *paths, "--mailbox", "dana@northwind.example"]
    result = runner.invoke(app, args, env=demo)
    assert result.exit_code == 0, result.output
    assert "4 email(s) into dana@northwind.example/INBOX: 3 tracked, 1 not tracked, 0 parked" in (
        result.output
    )
    again = runner.invoke(app, args, env=demo)
    assert "(4 seen before, unchanged)" in again.output


def test_explain_prints_every_rule_with_its_verdict(demo: dict[str, str], tmp_path: Path) -> None:
    # "Why wasn't this tracked?" answered from the command line.
    path = tmp_path / "x.eml"
    path.write_bytes(make_email(sender="stranger@else.example", message_id="<why@else.example>"))
    runner.invoke(app, ["ingest", str(path), "--mailbox", "dana@northwind.example"], env=demo)
    result = runner.invoke(app, ["explain", "why@else.example"], env=demo)
    assert result.exit_code == 0, result.output
    assert "Outcome: not tracked" in result.output
    assert "track_incoming_option" in result.output
    assert "the sender is no such record in the CRM" in result.output


@pytest.mark.parametrize("message_id", ["", "  ", "<>"])
def test_explain_without_a_message_id_says_what_it_takes(
    env: dict[str, str], message_id: str
) -> None:
    result = runner.invoke(app, ["explain", message_id], env=env)
    assert result.exit_code == 2
    assert "give the email's Message-ID" in " ".join(result.output.split())


def test_ingest_into_an_unknown_mailbox_fails_clearly(demo: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "x.eml"
    path.write_bytes(make_email())
    result = runner.invoke(app, ["ingest", str(path), "--mailbox", "nobody@x.example"], env=demo)
    assert result.exit_code == 2
    assert "no mailbox with the address 'nobody@x.example'" in result.output


def test_parked_email_is_listed_and_replayed(demo: dict[str, str], tmp_path: Path) -> None:
    # A failure parks the email; once the cause is fixed, replay tracks it.
    tidings = bootstrap(settings_for(demo["TIDINGS_DATABASE_URL"]))
    with tidings.uow() as uow:
        box = uow.mailboxes.get_by_address("sam@northwind.example")
        real_owner, box.owner = box.owner, RecordRef(RecordKind.USER, 999)
        uow.mailboxes.save(box)
        uow.commit()
    path = tmp_path / "x.eml"
    path.write_bytes(make_email(message_id="<parkme@c.example>"))
    ingest = runner.invoke(
        app, ["ingest", str(path), "--mailbox", "sam@northwind.example"], env=demo
    )
    assert "1 parked" in ingest.output
    listed = runner.invoke(app, ["parked"], env=demo)
    assert "<parkme@c.example>" in listed.output and "NotFoundError" in listed.output
    with tidings.uow() as uow:
        box = uow.mailboxes.get_by_address("sam@northwind.example")
        box.owner = real_owner
        uow.mailboxes.save(box)
        uow.commit()
    tidings.close()
    replay = runner.invoke(app, ["replay", "--all"], env=demo)
    assert replay.exit_code == 0, replay.output
    assert "not tracked: the owner's option is 'Email messages in response to email'" in (
        replay.output
    )
    assert "No parked email." in runner.invoke(app, ["parked"], env=demo).output


def test_replay_needs_an_id_or_all(demo: dict[str, str]) -> None:
    result = runner.invoke(app, ["replay"], env=demo)
    assert result.exit_code == 2
    assert "Give one parked ID or --all." in result.output


def test_commands_on_a_database_never_created_say_what_to_do(tmp_path: Path) -> None:
    # No traceback: the admin is told to run `tidings db upgrade`.
    env = {
        "TIDINGS_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}",
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "COLUMNS": "200",
    }
    result = runner.invoke(app, ["parked"], env=env)
    assert result.exit_code == 2
    assert "is not up to date: run `tidings db upgrade` first" in result.output
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    assert "No parked email." in runner.invoke(app, ["parked"], env=env).output


def test_a_plain_folder_gives_only_its_eml_files(demo: dict[str, str], tmp_path: Path) -> None:
    # Notes and indexes lying beside exported email are not email.
    (tmp_path / "a.eml").write_bytes(make_email(message_id="<only@c.example>"))
    (tmp_path / "MANIFEST.toml").write_text("[a]\nshape = 'x'\n")
    args = ["ingest", str(tmp_path), "--mailbox", "dana@northwind.example"]
    result = runner.invoke(app, args, env=demo)
    assert "1 email(s) into dana@northwind.example/INBOX" in result.output


def test_admin_automated_email_shows_and_sets_the_organization_setting(
    demo: dict[str, str],
) -> None:
    # Skipping automated email is on by default; --track and --skip turn it off and on.
    shown = runner.invoke(app, ["admin", "automated-email"], env=demo)
    assert shown.exit_code == 0, shown.output
    assert "Automated email is skipped." in shown.output

    tracked = runner.invoke(app, ["admin", "automated-email", "--track"], env=demo)
    assert tracked.exit_code == 0, tracked.output
    assert "Automated email is tracked like any other email." in tracked.output
    tidings = bootstrap(settings_for(demo["TIDINGS_DATABASE_URL"]))
    with tidings.uow() as uow:
        assert uow.settings.get().skip_automated_email is False
    tidings.close()

    skipped = runner.invoke(app, ["admin", "automated-email", "--skip"], env=demo)
    assert "Automated email is skipped." in skipped.output


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("TIDINGS_DATABASE_URL", "postgres://admin:hunter2@db.example:5432", "not postgres"),
        ("TIDINGS_DATABASE_URL", "mysql://admin:hunter2@db.example/tidings", "not mysql"),
        ("TIDINGS_SECRET_KEYS", "hunter2", "encryption key 1 of 1 in TIDINGS_SECRET_KEYS"),
        ("TIDINGS_PARSE_WORKERS", "hunter2", "TIDINGS_PARSE_WORKERS: input should be"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_it_never_a_traceback(
    env: dict[str, str], tmp_path: Path, setting: str, value: str, said: str | None
) -> None:
    # The console script as an operator runs it: what reaches them is the message alone.
    finished = subprocess.run(
        [TIDINGS, "admin", "mailboxes"],
        env={**os.environ, **env, setting: value},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 2
    assert "Traceback" not in finished.stderr
    assert finished.stderr.startswith("error: ")
    assert (said or setting) in " ".join(finished.stderr.split())
    assert "hunter2" not in finished.stdout + finished.stderr
