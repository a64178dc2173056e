"""Commands that work on email: ingest, explain, parked, replay."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tidings.domain.errors import TidingsError
from tidings.domain.folders import INBOX
from tidings.domain.message import MessageOrigin, content_hash
from tidings.domain.tracking import Outcome, Verdict
from tidings.entrypoints.cli.common import ready
from tidings.entrypoints.cli.output import error_line, plain_console, styled
from tidings.services.explain import Explanation

console = plain_console()
errors = plain_console(stderr=True)

#: Email imported from files has no IMAP UIDVALIDITY; its content hash stands in for the UID.
FILE_UIDVALIDITY = 0

_VERDICT_STYLE = {Verdict.PASS: "green", Verdict.FAIL: "red", Verdict.NOT_APPLICABLE: "dim"}


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(ingest)
    app.command()(explain)
    app.command()(parked)
    app.command()(replay)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files, Maildir folders or mbox files.")],
    mailbox: Annotated[str, typer.Option(help="Address of the mailbox they arrived in.")],
    folder: Annotated[str, typer.Option(help="Folder they arrived in.")] = INBOX,
) -> None:
    """Ingest email from disk as if it had arrived in MAILBOX/FOLDER."""
    tidings = ready()
    try:
        target = tidings.queries.mailbox_by_address(mailbox)
        files = tidings.find_mail_files(paths)
    except TidingsError as error:
        errors.print(error_line(error))
        raise typer.Exit(2) from error
    assert target.id is not None  # noqa: S101 - loaded from storage
    counts = {outcome: 0 for outcome in Outcome}
    repeated = 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    emails = (_with_origin(f.read(), target.id, folder) for f in files)
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("Ingesting", total=len(files))
        for result in tidings.ingest.ingest_many(emails):
            counts[result.outcome] += 1
            repeated += result.repeated
            progress.advance(task)
    console.print(
        styled(
            f"{len(files)} email(s) into {target.address}/{folder}: ",
            (f"{counts[Outcome.TRACKED]} tracked", "green"),
            f", {counts[Outcome.NOT_TRACKED]} not tracked, ",
            (f"{counts[Outcome.PARKED]} parked", "red"),
            f" ({repeated} seen before, unchanged)" if repeated else "",
        )
    )
    tidings.close()


def _with_origin(raw: bytes, mailbox_id: int, folder: str) -> tuple[bytes, MessageOrigin]:
    return raw, MessageOrigin(mailbox_id, folder, FILE_UIDVALIDITY, f"sha256:{content_hash(raw)}")


def explain(message_id: Annotated[str, typer.Argument(help="The email's Message-ID.")]) -> None:
    """Say why an email was (or wasn't) tracked: every rule, its verdict and reason."""
    if not message_id.strip(" <>"):
        raise typer.BadParameter(
            "give the email's Message-ID, such as <quote-7@contoso.example>",
            param_hint="MESSAGE_ID",
        )
    tidings = ready()
    found = tidings.explain.by_message_id(message_id)
    tidings.close()
    if not found:
        errors.print(f"No email with Message-ID {message_id} has been seen.")
        raise typer.Exit(1)
    for explanation in found:
        _print_explanation(explanation)


def _print_explanation(item: Explanation) -> None:
    console.rule(f"{item.message_id}  in {item.mailbox_address}/{item.folder}")
    outcome = item.outcome.value.replace("_", " ") if item.outcome else "undecided"
    shown = outcome if item.outcome is Outcome.TRACKED else item.summary
    console.print(styled("Outcome: ", (shown, "bold")))
    if item.activity_id is not None:
        console.print(f"Email activity: {item.activity_id}")
    if item.correlation is not None:
        regarding = (
            f", regarding {item.correlation.regarding}" if item.correlation.regarding else ""
        )
        console.print(f"Correlation: {item.correlation.method.value}{regarding}")
    _print_conversation(item)
    table = Table("Rule", "Verdict", "Reason", box=None)
    for reason in item.reasons:
        style = _VERDICT_STYLE[reason.verdict]
        table.add_row(reason.rule, styled((reason.verdict.value, style)), reason.text)
    if item.reasons:
        console.print(table)
    if item.parked_error:
        console.print(styled(("Parked with error:", "red"), f"\n{item.parked_error}"))


def _print_conversation(item: Explanation) -> None:
    """The email correlation matched, and the conversation the tracked email is in."""
    if item.matched is not None:
        console.print(
            f"Matched email: activity {item.matched.id}, {item.matched.subject!r}"
            + (f" {item.matched.message_id}" if item.matched.message_id else "")
        )
    if item.conversation_id is None:
        return
    console.print(f"Conversation: {item.conversation_id}")
    for activity in item.conversation:
        here = "  <- this email" if activity.id == item.activity_id else ""
        when = activity.received_at.strftime("%Y-%m-%d %H:%M") if activity.received_at else "—"
        console.print(
            f"  {activity.id:>8}  {when}  {activity.direction.value:<8}  "
            f"{activity.subject or '(no subject)'}{here}"
        )


def parked() -> None:
    """List email whose processing failed, with the error; `tidings replay` retries them."""
    tidings = ready()
    items = tidings.queries.parked()
    tidings.close()
    if not items:
        console.print("No parked email.")
        return
    table = Table("ID", "Mailbox/folder", "Message-ID", "Error", "Attempts", "Parked at")
    for item in items:
        table.add_row(
            str(item.id),
            f"{item.mailbox_address}/{item.folder}",
            item.message_id or "",
            item.error_type,
            str(item.attempts),
            item.parked_at.isoformat(timespec="seconds"),
        )
    console.print(table)


def replay(
    parked_id: Annotated[int | None, typer.Argument(help="ID from `tidings parked`.")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every parked email.")] = False,
) -> None:
    """Put parked email through processing again."""
    if (parked_id is None) == (not replay_all):
        errors.print("Give one parked ID or --all.")
        raise typer.Exit(2)
    tidings = ready()
    try:
        results = (
            tidings.replay.replay_all() if replay_all else [tidings.replay.replay(parked_id or 0)]
        )
    except TidingsError as error:
        errors.print(error_line(error))
        raise typer.Exit(2) from error
    finally:
        tidings.close()
    for result in results:
        console.print(f"email {result.raw_message_id}: {result.summary}")
    if any(r.outcome is Outcome.PARKED for r in results):
        raise typer.Exit(1)
