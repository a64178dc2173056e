"""``tidings admin set-profile``, ``set-mailbox``, ``set-options`` and ``tokens``: what the
console and the API change, changed through the same services from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tidings.domain.errors import NotFoundError
from tidings.domain.people import TrackIncoming
from tidings.domain.server_profile import MAX_CONCURRENT_CONNECTIONS
from tidings.domain.settings import SyncMethod
from tidings.entrypoints.cli.common import OPERATOR, ready, run
from tidings.entrypoints.cli.output import plain_console

console = plain_console()
tokens_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)


def register(admin_app: typer.Typer) -> None:
    admin_app.command("set-profile")(set_profile)
    admin_app.command("set-mailbox")(set_mailbox)
    admin_app.command("set-options")(set_options)
    admin_app.add_typer(tokens_app, name="tokens")


def set_profile(
    name: Annotated[str, typer.Argument(help="The server profile's name.")],
    max_connections: Annotated[
        int | None,
        typer.Option(help=f"Maximum concurrent connections (1-{MAX_CONCURRENT_CONNECTIONS:,})."),
    ] = None,
    min_polling_interval: Annotated[
        int | None, typer.Option(help="Minimum polling interval in minutes (0-1440).")
    ] = None,
    connection_timeout: Annotated[
        int | None, typer.Option(help="Connection timeout in seconds (1-600).")
    ] = None,
) -> None:
    """Change an email server profile's connection limit, polling interval or timeout."""
    changes: dict[str, object] = {
        key: value
        for key, value in (
            ("max_concurrent_connections", max_connections),
            ("min_polling_interval_minutes", min_polling_interval),
            ("connection_timeout_seconds", connection_timeout),
        )
        if value is not None
    }
    tidings = ready()
    try:

        def change() -> None:
            views = tidings.server_profiles.list_profiles(OPERATOR)
            found = [v.profile for v in views if v.profile.name.lower() == name.strip().lower()]
            if not found or found[0].id is None:
                raise NotFoundError(f"no server profile named {name!r}")
            profile = tidings.server_profiles.update(OPERATOR, found[0].id, changes).profile
            console.print(
                f"Server profile {profile.name!r}: at most "
                f"{profile.max_concurrent_connections} concurrent connection(s), polling "
                f"every {profile.min_polling_interval_minutes} minute(s) at least, "
                f"timeout {profile.connection_timeout_seconds} s."
            )

        run(change)
    finally:
        tidings.close()


def set_mailbox(
    address: Annotated[str, typer.Argument(help="The mailbox's address.")],
    incoming: Annotated[SyncMethod | None, typer.Option(help="Incoming sync method.")] = None,
    outgoing: Annotated[SyncMethod | None, typer.Option(help="Outgoing sync method.")] = None,
    profile: Annotated[str | None, typer.Option(help="Another server profile, by name.")] = None,
) -> None:
    """Change a mailbox's sync methods or server profile; it is then tested again before
    it syncs (run test-enable)."""
    tidings = ready()
    try:

        def change() -> None:
            changes: dict[str, object] = {}
            if incoming is not None:
                changes["incoming_method"] = incoming
            if outgoing is not None:
                changes["outgoing_method"] = outgoing
            if profile is not None:
                views = tidings.server_profiles.list_profiles(OPERATOR)
                ids = [v.profile.id for v in views if v.profile.name.lower() == profile.lower()]
                if not ids:
                    raise NotFoundError(f"no server profile named {profile!r}")
                changes["profile_id"] = ids[0]
            mailbox_id = tidings.queries.mailbox_by_address(address).id or 0
            detail = tidings.mailbox_setup.update(OPERATOR, mailbox_id, changes)
            mailbox = detail.mailbox
            console.print(
                f"Mailbox {mailbox.address}: incoming {mailbox.incoming_method.value}, "
                f"outgoing {mailbox.outgoing_method.value}, profile {detail.profile_name or '-'}"
                f", {'enabled' if mailbox.enabled else 'not enabled'}."
            )

        run(change)
    finally:
        tidings.close()


def set_options(
    email: Annotated[str, typer.Argument(help="The user's email address.")],
    track_incoming: Annotated[
        TrackIncoming | None, typer.Option(help="The personal option Track incoming email.")
    ] = None,
    create_contacts: Annotated[
        bool | None,
        typer.Option(
            "--create-contacts/--no-create-contacts",
            help="Whether unknown senders become contacts.",
        ),
    ] = None,
) -> None:
    """Show or change a user's personal options."""
    tidings = ready()
    try:

        def change() -> None:
            user = tidings.people.find_user(OPERATOR, email)
            options = tidings.personal_options.update_options(
                OPERATOR,
                user.id,
                track_incoming=track_incoming,
                create_contacts_for_unknown_senders=create_contacts,
            )
            contacts = "yes" if options.create_contacts_for_unknown_senders else "no"
            console.print(
                f"{user.email}: Track incoming email: {options.track_incoming.label}; "
                f"create contacts for unknown senders: {contacts}."
            )

        run(change)
    finally:
        tidings.close()


@tokens_app.command("create")
def create_token(
    name: Annotated[str, typer.Argument(help="What the token is for.")],
    user: Annotated[str, typer.Option(help="The user the token acts as (with their roles).")],
) -> None:
    """Create an API token for a user; it is printed once, and never again."""
    tidings = ready()
    try:
        new = run(lambda: tidings.access.create_api_token(tidings.access.caller_for(user), name))
    finally:
        tidings.close()
    console.print(f"API token {new.record.id} ({new.record.name!r}) for {user}:")
    # On a line of its own, so that scripts can take the last line.
    print(new.token)


@tokens_app.command("list")
def list_tokens(
    user: Annotated[str, typer.Option(help="Whose tokens.")],
) -> None:
    """A user's API tokens: never the token, only its first characters."""
    tidings = ready()
    try:
        tokens = run(lambda: tidings.access.api_tokens(tidings.access.caller_for(user)))
    finally:
        tidings.close()
    table = Table("Id", "Name", "Starts with", "Created", "Last used", "Revoked")
    for token in tokens:
        table.add_row(
            str(token.id),
            token.name,
            token.hint + "…",
            f"{token.created_at:%Y-%m-%d %H:%M}",
            f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "-",
            f"{token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "-",
        )
    console.print(table)


@tokens_app.command("revoke")
def revoke_token(token_id: Annotated[int, typer.Argument(help="The token's id.")]) -> None:
    """Revoke an API token at once: requests with it are refused from now on."""
    tidings = ready()
    try:
        run(lambda: tidings.access.revoke_api_token(OPERATOR, token_id))
    finally:
        tidings.close()
    console.print(f"API token {token_id} revoked.")
