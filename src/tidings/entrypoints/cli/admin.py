"""``tidings admin``: set up server profiles, users and mailboxes; Approve Email; Test & Enable.

The command line acts with the authority of whoever runs it on the server (all privileges);
the console and the API check each caller's security roles instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tidings.domain.server_profile import (
    ConnectionSecurity,
    CredentialSource,
    ServerProfile,
    ServerProfileKind,
)
from tidings.domain.sync import FolderSync, MailboxSync
from tidings.entrypoints.cli.common import OPERATOR, ready
from tidings.entrypoints.cli.common import run as _run
from tidings.entrypoints.cli.output import error_line, plain_console, styled
from tidings.services.server_profiles import ProfileSecret

admin_app = typer.Typer(help="Set up profiles, users and mailboxes.", no_args_is_help=True)
console = plain_console()
errors = plain_console(stderr=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True))


@admin_app.command("mailboxes")
def mailboxes() -> None:
    """Every mailbox: approval, Test & Enable (and whether a queued one has yet to run),
    enabled, how it syncs and its latest alert."""
    tidings = ready()
    state = tidings.queries.sync_state()
    table = Table(
        "Mailbox",
        "Approval",
        "Incoming",
        "Outgoing",
        "Enabled",
        "Sync",
        "Last sync",
        "Backlog",
        "Folders",
        "Held by",
        "Latest alert",
    )
    listed = tidings.queries.mailboxes()
    scheduled = tidings.queries.tests_scheduled([m.id for m in listed if m.id is not None])
    for mailbox in listed:
        sync = state.get(mailbox.id or 0, MailboxSync())
        latest = mailbox.alerts[-1] if mailbox.alerts else None
        enabled = "yes" if mailbox.enabled else "no"
        table.add_row(
            mailbox.address,
            mailbox.approval.value,
            mailbox.incoming_status.value,
            mailbox.outgoing_status.value,
            f"{enabled} (test scheduled)" if mailbox.id in scheduled else enabled,
            _mode(sync),
            f"{sync.last_sync:%Y-%m-%d %H:%M:%S}" if sync.last_sync else "-",
            str(sync.backlog),
            ", ".join(_folder(folder) for folder in sync.folders) or "-",
            _holder(sync),
            f"{latest.level.value}: {latest.text}" if latest else "-",
        )
    console.print(table)


def _holder(sync: MailboxSync) -> str:
    if sync.held_by is None:
        return "-"
    return f"{sync.held_by.worker} since {sync.held_by.since:%Y-%m-%d %H:%M:%S}"


def _mode(sync: MailboxSync) -> str:
    if sync.mode is None:
        return "-"
    if sync.first_sync is not None:
        done, total = sync.first_sync
        return f"{sync.mode.value} (first sync {done} of {total})"
    return sync.mode.value


def _folder(folder: FolderSync) -> str:
    if folder.cursor is None:
        return folder.folder
    modseq = folder.cursor.highest_modseq
    return f"{folder.folder} (UID {folder.cursor.last_uid}" + (
        f", MODSEQ {modseq})" if modseq is not None else ")"
    )


@admin_app.command("add-profile")
def add_profile(
    name: str,
    kind: Annotated[ServerProfileKind, typer.Option()] = ServerProfileKind.IMAP_SMTP,
    incoming_host: Annotated[str, typer.Option(help="IMAP/POP3 kinds only.")] = "",
    outgoing_host: Annotated[str, typer.Option(help="IMAP/POP3 kinds only.")] = "",
    incoming_port: Annotated[int | None, typer.Option()] = None,
    incoming_security: Annotated[ConnectionSecurity, typer.Option()] = ConnectionSecurity.TLS,
    outgoing_port: Annotated[int | None, typer.Option()] = None,
    outgoing_security: Annotated[ConnectionSecurity, typer.Option()] = ConnectionSecurity.STARTTLS,
    allow_insecure: Annotated[bool, typer.Option(help="Allow connections without TLS.")] = False,
    ca_file: Annotated[str | None, typer.Option(help="A private CA to trust.")] = None,
    option: Annotated[
        list[str], typer.Option(help="A setting of the kind, KEY=VALUE (tenant_id=…); repeat.")
    ] = [],  # noqa: B006
    credentials_from: Annotated[
        CredentialSource, typer.Option(help="Whose credentials log in.")
    ] = CredentialSource.MAILBOX,
    profile_username: Annotated[
        str | None,
        typer.Option(help="The profile's own account or client id; its secret is asked for."),
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(help="Read the profile's secret from this file (a JSON key, a PEM)."),
    ] = None,
    secret_stdin: Annotated[
        bool, typer.Option(help="Read the profile's secret from stdin.")
    ] = False,
) -> None:
    """Add an email server profile, with the credentials it holds when it holds them."""
    options = dict(_option(text) for text in option)
    if ca_file:
        options["ca_file"] = ca_file
    profile = ServerProfile(
        name=name,
        kind=kind,
        incoming_host=incoming_host,
        incoming_port=incoming_port,
        incoming_security=incoming_security,
        outgoing_host=outgoing_host,
        outgoing_port=outgoing_port,
        outgoing_security=outgoing_security,
        allow_insecure=allow_insecure,
        credential_source=credentials_from,
        options=options,
    )
    secret = None
    if profile_username is not None:
        secret = secret_file.read_text() if secret_file else _password(secret_stdin)
    tidings = ready()

    def add() -> None:
        profile_id = tidings.setup.add_server_profile(profile)
        if profile_username is not None and secret is not None:
            tidings.server_profiles.set_credentials(
                OPERATOR, profile_id, ProfileSecret(profile_username, secret)
            )

    _run(add)
    for warning in profile.warnings():
        console.print(styled(("warning:", "yellow"), f" {warning}"))
    console.print(f"Server profile {name!r} added.")


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        errors.print(error_line(f"--option takes KEY=VALUE, not {text!r}"))
        raise typer.Exit(2)
    return key.strip(), value.strip()


@admin_app.command("add-user")
def add_user(
    full_name: str,
    email: str,
    role: Annotated[list[str], typer.Option(help="admin or tracking; repeat for both.")] = [],  # noqa: B006
    with_password: Annotated[bool, typer.Option(help="Ask for a sign-in password.")] = False,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Add a user (who may own a mailbox and sign in)."""
    password = _password(password_stdin) if (with_password or password_stdin) else None
    tidings = ready()
    _run(lambda: tidings.setup.add_user(full_name, email, role, password))
    console.print(f"User {email} added.")


@admin_app.command("add-mailbox")
def add_mailbox(
    address: str,
    owner: Annotated[str, typer.Option(help="The owning user's email address.")],
    profile: Annotated[str, typer.Option(help="The server profile's name.")],
) -> None:
    """Add a mailbox; it syncs once approved and enabled by Test & Enable."""
    tidings = ready()
    _run(lambda: tidings.setup.add_mailbox(address, owner, profile))
    console.print(f"Mailbox {address} added: approve it, set its credentials, test & enable.")


@admin_app.command("set-credentials")
def set_credentials(
    address: str,
    username: Annotated[str, typer.Option()],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Keep the mailbox's login (the password encrypted at rest)."""
    password = _password(password_stdin)
    tidings = ready()

    def save() -> None:
        mailbox = tidings.queries.mailbox_by_address(address)
        assert mailbox.id is not None  # noqa: S101 - loaded from storage
        tidings.mailboxes.set_credentials(OPERATOR, mailbox.id, username, password)

    _run(save)
    console.print(f"Credentials of {address} saved.")


def create_admin(
    email: str,
    full_name: Annotated[str, typer.Option("--name", help="The administrator's full name.")] = (
        "Administrator"
    ),
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Create a System Administrator (who also holds the tracking role) to sign in with."""
    if password_stdin:
        password = _password(True)
    else:
        password = str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    tidings = ready()
    _run(lambda: tidings.access.create_admin(full_name, email, password))
    console.print(f"System Administrator {email} created; sign in at the console.")


@admin_app.command("automated-email")
def automated_email(
    skip: Annotated[
        bool | None,
        typer.Option(
            "--skip/--track",
            help="Skip automatic replies, bounces, read receipts and bulk email, or track them.",
        ),
    ] = None,
) -> None:
    """Show or set whether automated email is skipped (an email configuration setting)."""
    tidings = ready()

    def apply() -> None:
        if skip is not None:
            tidings.email_settings.update(OPERATOR, {"skip_automated_email": skip})

    _run(apply)
    config = tidings.email_settings.get(OPERATOR)
    state = "skipped" if config.skip_automated_email else "tracked like any other email"
    console.print(f"Automated email is {state}.")
