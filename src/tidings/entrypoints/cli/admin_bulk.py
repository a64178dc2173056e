"""``tidings admin import-mailboxes``, ``approve`` and ``test-enable``: setting up many
mailboxes at once, each reported as it is done."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tidings.domain.errors import ValidationError
from tidings.domain.mailbox_views import MailboxView
from tidings.entrypoints.cli.common import OPERATOR, ready, run
from tidings.entrypoints.cli.output import error_line, plain_console, styled
from tidings.services.import_formats import ImportFormat

if TYPE_CHECKING:
    from tidings.bootstrap import Tidings
    from tidings.domain.mailbox import Mailbox
    from tidings.services.mailbox_import import MailboxImportReport
    from tidings.services.mailboxes import TestReport

console = plain_console()
errors = plain_console(stderr=True)

_EXTENSIONS = {".csv": ImportFormat.CSV, ".json": ImportFormat.JSON, ".jsonl": ImportFormat.JSON}
_EXTENSIONS[".ndjson"] = ImportFormat.JSON

AllOption = Annotated[bool, typer.Option("--all", help="Every mailbox that needs it.")]
FileOption = Annotated[
    Path | None,
    typer.Option("--file", help="Read the addresses from this file, one a line.", dir_okay=False),
]


def register(admin_app: typer.Typer) -> None:
    admin_app.command("import-mailboxes")(import_mailboxes)
    admin_app.command("approve")(approve)
    admin_app.command("test-enable")(test_enable)


def import_mailboxes(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSON.")],
    fmt: Annotated[
        ImportFormat | None,
        typer.Option("--format", help="csv or json (default: from the file's extension)."),
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Write the good rows even if some are invalid.")
    ] = False,
    update: Annotated[
        bool, typer.Option(help="Change existing users and mailboxes to match their rows.")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Check and count; write nothing.")] = False,
) -> None:
    """Create users and their mailboxes from a CSV or JSON file (docs/admin.md lists the
    columns). Every row is checked first; by default one bad row means nothing is written."""
    chosen = fmt or _EXTENSIONS.get(file.suffix.lower())
    if chosen is None:
        errors.print(error_line("say --format csv or --format json for this file"))
        raise typer.Exit(2)
    tidings = ready()
    try:
        with file.open("rb") as source:
            report = run(
                lambda: tidings.mailbox_import.import_mailboxes(
                    OPERATOR,
                    source,
                    chosen,
                    skip_invalid=skip_invalid,
                    update=update,
                    dry_run=dry_run,
                )
            )
    finally:
        tidings.close()
    _print_import(report)
    if report.invalid_rows and not report.committed and not dry_run:
        raise typer.Exit(2)
    if report.invalid_rows:
        raise typer.Exit(1)


def _print_import(report: MailboxImportReport) -> None:
    from tidings.services.mailbox_import import RowResult

    for problem in report.problems:
        errors.print(error_line(problem.describe(), label="invalid:"))
    hidden = len(report.problems) < report.invalid_rows
    if hidden:
        errors.print("… more problems than are listed")
    for outcome in report.outcomes:
        if outcome.mailbox is not RowResult.CREATED:
            console.print(
                f"row {outcome.row}: {outcome.address}: mailbox {outcome.mailbox.value}, "
                f"user {outcome.email} {outcome.user.value}"
            )
    users = ", ".join(
        f"{report.count('user', r)} {r.value}" for r in RowResult if r is not RowResult.INVALID
    )
    mailboxes = ", ".join(
        f"{report.count('mailbox', r)} {r.value}" for r in RowResult if r is not RowResult.INVALID
    )
    console.print(f"{report.rows} rows, {report.invalid_rows} invalid.")
    console.print(f"Users: {users}. Mailboxes: {mailboxes}.")
    if report.dry_run:
        console.print("Dry run: nothing was written.")
    elif report.committed:
        console.print("Written. Next: tidings admin approve --all; tidings admin test-enable --all")
    else:
        console.print("Nothing was written: correct the rows above, or use --skip-invalid.")


def approve(
    addresses: Annotated[list[str] | None, typer.Argument(help="Mailbox addresses.")] = None,
    every: AllOption = False,
    file: FileOption = None,
) -> None:
    """Approve Email: confirm each address belongs to its owner (--all: every mailbox
    pending approval)."""
    tidings = ready()
    try:
        chosen, unknown = _select(tidings, addresses, file, every, MailboxView.PENDING_APPROVAL)
        before = {m.id: m.is_approved for m in chosen}
        approved = run(
            lambda: tidings.mailboxes.approve_email(OPERATOR, [m.id or 0 for m in chosen])
        )
    finally:
        tidings.close()
    for number, mailbox in enumerate(approved, start=1):
        state = "already approved" if before.get(mailbox.id) else "approved"
        console.print(f"[{number}/{len(approved)}] {mailbox.address}: {state}")
    console.print(f"Approved: {len(approved)} mailbox(es).")
    _unknown(unknown)


def test_enable(
    addresses: Annotated[list[str] | None, typer.Argument(help="Mailbox addresses.")] = None,
    every: AllOption = False,
    file: FileOption = None,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Hand the tests to the workers (PostgreSQL only) and return once they are "
            "queued; tidings admin mailboxes shows each result once tested.",
        ),
    ] = False,
) -> None:
    """Test & Enable: log in to incoming and outgoing; enable each mailbox that passes
    (--all: every mailbox not enabled). Mailboxes are tested concurrently, within each
    server profile's maximum concurrent connections; each is printed as it finishes, and
    the exit status is 1 if any stays disabled. With --queue the workers test them."""
    tidings = ready()
    reports: list[TestReport] = []
    try:
        chosen, unknown = _select(tidings, addresses, file, every, MailboxView.DISABLED)
        if queue:
            _queue_tests(tidings, chosen)
            _unknown(unknown)
            return
        total = len(chosen)

        def show(report: TestReport) -> None:
            reports.append(report)
            state = ("enabled", "green") if report.enabled else ("not enabled", "red")
            console.print(styled(f"[{len(reports)}/{total}] {report.address}: ", state))
            console.print(f"  {report.incoming.status.value}: {report.incoming.message}")
            console.print(f"  {report.outgoing.status.value}: {report.outgoing.message}")

        ids = [m.id or 0 for m in chosen]
        run(lambda: asyncio.run(tidings.mailboxes.test_and_enable(OPERATOR, ids, show)))
    finally:
        tidings.close()
    enabled = sum(1 for r in reports if r.enabled)
    console.print(f"Enabled: {enabled} of {total} mailbox(es).")
    _unknown(unknown)
    if enabled < total:
        raise typer.Exit(1)


def _queue_tests(tidings: Tidings, chosen: list[Mailbox]) -> None:
    ids = [m.id or 0 for m in chosen]
    queued = run(lambda: tidings.mailboxes.queue_test_and_enable(OPERATOR, ids))
    if queued is None:
        errors.print(
            error_line(
                "--queue needs the workers' task queue, which only PostgreSQL has; "
                "nothing was queued: run without --queue to test here"
            )
        )
        raise typer.Exit(2)
    for number, mailbox in enumerate(queued, start=1):
        console.print(f"[{number}/{len(queued)}] {mailbox.address}: queued")
    console.print(
        f"Queued: {len(queued)} mailbox(es). A worker tests each shortly; "
        "tidings admin mailboxes shows the results."
    )


def _select(
    tidings: Tidings,
    addresses: list[str] | None,
    file: Path | None,
    every: bool,
    view: MailboxView,
) -> tuple[list[Mailbox], list[str]]:
    given = list(addresses or [])
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise typer.BadParameter(str(error), param_hint="--file") from error
        given += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if every == bool(given or file):
        run(_refuse)
    selection = run(lambda: tidings.mailboxes.select(OPERATOR, None if every else given, view))
    return selection.mailboxes, selection.unknown


def _refuse() -> None:
    raise ValidationError("name mailboxes (addresses or --file), or say --all; not both")


def _unknown(unknown: list[str]) -> None:
    for address in unknown:
        errors.print(error_line(f"no mailbox with the address {address}"))
    if unknown:
        raise typer.Exit(1)
