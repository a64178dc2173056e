"""The command line prints names, subjects, folders and addresses exactly as they are.

They come from outside: a GitHub notification's subject starts ``[owner/repo]``, a user's
folder may be ``[work]/clients``, and anyone may name a business unit ``[/]``. Read as rich
markup, the first two lose their bracketed part, ``[/]`` ends the command with a markup
error after its work is done, ``[link=…]`` puts a link in the operator's terminal and
``:thumbs_up:`` becomes an emoji."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.builders import make_email
from tests.conftest import TEST_SECRET_KEY
from tidings.entrypoints.cli.main import app

runner = CliRunner()

#: Each is markup or an emoji code to rich; each must be printed as written.
MARKUP_LIKE = [
    "[owner/repo] Fix the build (#12)",
    "[b]Field[/b] sales",
    "[/] closing nothing",
    "[link=https://evil.example]click[/link]",
    "thanks :thumbs_up: and :smile:",
    "[red]urgent[/red] [bold",
]


@pytest.fixture
def demo(sqlite_url: str) -> dict[str, str]:
    env = {
        "TIDINGS_DATABASE_URL": sqlite_url,
        "TIDINGS_PARSE_WORKERS": "0",
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "COLUMNS": "250",
    }
    result = runner.invoke(app, ["demo", "--no-serve"], env=env)
    assert result.exit_code == 0, result.output
    return env


@pytest.mark.parametrize("name", MARKUP_LIKE)
def test_a_business_unit_name_is_printed_as_written(demo: dict[str, str], name: str) -> None:
    created = runner.invoke(app, ["admin", "business-units", "create", name], env=demo)
    assert created.exit_code == 0, created.output
    assert name in created.output
    listed = runner.invoke(app, ["admin", "business-units", "list"], env=demo)
    assert listed.exit_code == 0, listed.output
    assert name in listed.output


def _ingest(env: dict[str, str], folder: Path, subject: str, message_id: str, into: str) -> str:
    email = folder / "email.eml"
    email.write_bytes(
        make_email(sender="maria.garcia@contoso.example", subject=subject, message_id=message_id)
    )
    args = ["ingest", str(email), "--mailbox", "dana@northwind.example", "--folder", into]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("subject", MARKUP_LIKE)
def test_explain_prints_the_subject_as_written(
    demo: dict[str, str], tmp_path: Path, subject: str
) -> None:
    ingested = _ingest(demo, tmp_path, subject, "<gh-12@contoso.example>", "INBOX")
    assert "dana@northwind.example/INBOX: 1 tracked" in ingested
    explained = runner.invoke(app, ["explain", "<gh-12@contoso.example>"], env=demo)
    assert explained.exit_code == 0, explained.output
    assert subject in explained.output


@pytest.mark.parametrize("folder", ["[work]/clients", "[/]", "Archive :wastebasket:"])
def test_ingest_and_explain_print_the_folder_as_written(
    demo: dict[str, str], tmp_path: Path, folder: str
) -> None:
    # Only the Inbox is tracked by default; the folder is named either way.
    ingested = _ingest(demo, tmp_path, "Quote", "<q-1@contoso.example>", folder)
    assert f"dana@northwind.example/{folder}: 0 tracked, 1 not tracked" in ingested
    explained = runner.invoke(app, ["explain", "<q-1@contoso.example>"], env=demo)
    assert explained.exit_code == 0, explained.output
    assert f"in dana@northwind.example/{folder}" in explained.output


@pytest.mark.parametrize("address", ["[/]@example.com", "[b]x[/b]@example.com"])
def test_an_unknown_address_is_named_as_written_in_the_error(
    demo: dict[str, str], address: str
) -> None:
    result = runner.invoke(app, ["admin", "approve", address], env=demo)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"error: no mailbox with the address {address}" in result.output
