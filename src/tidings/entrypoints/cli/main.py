"""``tidings``: serve, manage the database, load the demo, ingest and explain email.

The composition root and everything behind it are imported by the commands that use them:
``tidings --help`` and the light commands answer without loading the storage and mail
adapters (tests/unit/test_cli_imports.py holds this).
"""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from tidings.domain.errors import TidingsError
from tidings.entrypoints.cli import admin_access, admin_bulk, admin_settings, mail
from tidings.entrypoints.cli.admin import admin_app, create_admin
from tidings.entrypoints.cli.common import ready
from tidings.entrypoints.cli.output import error_line, plain_console, styled
from tidings.entrypoints.collector import settle_for_a_long_run

if TYPE_CHECKING:
    from tidings.bootstrap import Tidings

if TYPE_CHECKING:
    import uvicorn


app = typer.Typer(
    help="Tidings: server-side email synchronization and tracking for CRM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Manage the database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
admin_bulk.register(admin_app)
admin_settings.register(admin_app)
admin_access.register(admin_app)
app.add_typer(admin_app, name="admin")
app.command("createadmin")(create_admin)
mail.register(app)
console = plain_console()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database or bring it to the newest schema."""
    from tidings.bootstrap import bootstrap

    tidings = bootstrap()
    tidings.upgrade_database()
    console.print(f"Database at {tidings.database_label} is up to date.")
    tidings.close()


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored secret (credentials, webhook signing secrets) with the first
    key of TIDINGS_SECRET_KEYS.

    Put the new key first and keep the old ones after it; once this has run, the old keys
    can be dropped.
    """
    tidings = ready()
    try:
        count = tidings.mailboxes.rotate_credentials()
    finally:
        tidings.close()
    console.print(f"{count} secret(s) sealed with the newest key.")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Port to listen on (default 8025; 0: a free one, which the log names).",
        ),
    ] = None,
    with_worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run the sync and send worker too.")
    ] = False,
) -> None:
    """Run the HTTP server: the console, /healthz and the REST API under /api."""
    tidings = ready()
    tidings.log_to_standard_error()
    if with_worker:
        _parse_processes(tidings)
    else:
        # Sync runs in `tidings worker` processes: change notifications are relayed there.
        tidings.mail_push.relay_to_workers()
    _serve(tidings, host, port, with_worker=with_worker)


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server after.")
    ] = True,
    port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Port to listen on (default 8025; 0: a free one, which the log names).",
        ),
    ] = None,
) -> None:
    """Create the demo organization with its sample mailbox, then serve it."""
    from tidings.bootstrap import bootstrap
    from tidings.services.demo import ADMIN_EMAIL, ADMIN_PASSWORD, TRACKING_USERS

    tidings = bootstrap()
    tidings.upgrade_database()
    if serve_after:
        tidings.log_to_standard_error()
    summary = tidings.load_demo()
    if summary.loaded:
        counts = ", ".join(f"{n} {o.value.replace('_', ' ')}" for o, n in summary.outcomes.items())
        console.print(f"Demo organization created; sample mailbox ingested: {counts}.")
    else:
        console.print("Demo organization already present.")
    chosen = _port(tidings, port)
    if chosen:
        url = f"http://{tidings.settings.host}:{chosen}"
        console.print(
            styled("Tidings is at ", (url, "bold"), f"  (sign in there; API docs: {url}/api/docs)")
        )
    else:
        console.print("Tidings listens on a free port: the line 'Uvicorn running on' names it.")
    console.print(styled("Demo admin: ", (ADMIN_EMAIL, "bold"), " / ", (ADMIN_PASSWORD, "bold")))
    users: list[str | tuple[str, str]] = []
    for email in TRACKING_USERS:
        users += [" or ", (email, "bold")] if users else [(email, "bold")]
    console.print(
        styled("Tidings App Users (their own email and customers): ", *users, ", same password")
    )
    if serve_after:
        console.print("The worker runs alongside: sync of enabled mailboxes and sending.")
        _serve(tidings, None, port, with_worker=True)
    else:
        tidings.close()


def _parse_processes(tidings: Tidings) -> None:
    """Start the parse processes now if they are kept for good; otherwise they start with
    the first email and stop when there is none (``TIDINGS_PARSE_IDLE_SECONDS``)."""
    if tidings.settings.parse_idle_seconds == 0:
        tidings.parser.warm_up()


@app.command()
def worker() -> None:
    """Run server-side synchronization for every enabled mailbox until stopped."""
    tidings = ready()
    tidings.log_to_standard_error()
    _parse_processes(tidings)
    settle_for_a_long_run()
    console.print(f"Syncing mailboxes of {tidings.database_label}; Ctrl-C stops.")
    try:
        asyncio.run(_run_until_signalled(tidings))
    finally:
        tidings.close()


async def _run_until_signalled(tidings: Tidings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await _work(tidings, stop)


async def _work(tidings: Tidings, stop: asyncio.Event) -> None:
    """Sync every enabled mailbox, send queued email and deliver webhooks until ``stop``;
    change notifications received by web processes arrive through the relay, if any.

    On SQLite this one process does it all, polling the outbox and the deliveries; on
    PostgreSQL sending and delivering are tasks that whichever worker is free runs."""
    # On PostgreSQL the workers share the mailboxes (this one syncs those it holds), and
    # each email to send and each webhook delivery is a task of the queue they share.
    holding = tidings.mailbox_holding()
    if holding is None:
        await asyncio.to_thread(tidings.outgoing.recover)
        alone = [tidings.outgoing.run(stop), tidings.webhooks.run(stop)]
    else:
        alone = []
    await asyncio.gather(
        tidings.sync.run(stop, None if holding is None else holding.held),
        *([] if holding is None else [holding.run(stop)]),
        *alone,
        tidings.mail_push.listen(stop),
    )


@app.command()
def send() -> None:
    """Send the queued email once (after recovering from an interrupted run), then exit.
    On PostgreSQL the workers send: each queued email without a send task gets one."""
    tidings = ready()
    try:
        # Recovery fails every email caught mid-handover: right only where no other process
        # sends (SQLite). Where workers may be handing email over, they send it.
        deferred = asyncio.run(tidings.defer_missing_sends())
        if deferred is not None:
            console.print(
                "The workers send email on PostgreSQL; queued email without a send task: "
                f"{deferred}, each given one."
            )
            return
        failed_over = tidings.outgoing.recover()
        for activity_id in failed_over:
            console.print(f"email activity {activity_id}: interrupted mid-handover, not resent")
        for result in asyncio.run(tidings.outgoing.send_pending()):
            detail = f": {result.error}" if result.error else ""
            console.print(f"email activity {result.activity_id}: {result.phase.value}{detail}")
    finally:
        tidings.close()


def _serve(
    tidings: Tidings, host: str | None, port: int | None, *, with_worker: bool = False
) -> None:
    import uvicorn

    from tidings.entrypoints.api.app import create_app

    config = uvicorn.Config(
        create_app(tidings),
        host=host or tidings.settings.host,
        port=_port(tidings, port),
        log_level="info",
        # uvicorn's records go through the root logger's formatter, as every other's.
        log_config=None,
    )
    server = uvicorn.Server(config)
    settle_for_a_long_run()
    # uvicorn shuts down on SIGTERM, then raises it again for the handler it found: this
    # one, so that the parse processes are stopped in order before the process ends.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    terminated = False
    try:
        _run_server(server, tidings, with_worker=with_worker)
    except _Terminated:
        terminated = True
    finally:
        tidings.close()
        signal.signal(signal.SIGTERM, previous)
    if terminated:
        # End as a SIGTERM'd process does, which is what service managers expect.
        signal.raise_signal(signal.SIGTERM)


def _port(tidings: Tidings, port: int | None) -> int:
    """The port asked for, else the configured one. 0 is a port too: the system picks a free
    one as the server binds it, and uvicorn's "Uvicorn running on" line says which, so that
    whatever starts the server can find it without a port that another process may take
    between being found free and being bound."""
    return tidings.settings.port if port is None else port


class _Terminated(Exception):
    """SIGTERM, raised again by uvicorn once the server has shut down."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _run_server(server: uvicorn.Server, tidings: Tidings, *, with_worker: bool) -> None:
    if not with_worker:
        server.run()
        return

    async def both() -> None:
        # The server handles SIGINT/SIGTERM; when it stops, the worker stops with it.
        stop = asyncio.Event()
        worker = asyncio.ensure_future(_work(tidings, stop))
        await server.serve()
        stop.set()
        await worker

    asyncio.run(both())


def run() -> None:
    """Console-script entry point: a Tidings error no command caught (wrong settings, a
    key that is no key) is one line on standard error and status 2, never a traceback."""
    try:
        app()
    except TidingsError as error:
        plain_console(stderr=True).print(error_line(error))
        raise SystemExit(2) from None
