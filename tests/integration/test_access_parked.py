"""Replaying parked email reaches only the mailboxes the caller may change: a parked email
belongs to the mailbox it came from. One out of reach is not found (404) when named, and
left alone by *replay all*: through the API and the console alike. The command line is the
operator's and replays every mailbox's.

The world of ``access_world``, where Una is given *write mailboxes* at User level and Sam at
Business unit level (Sales); one email is parked in each of Una's, Sue's, Pat's and Help's
mailboxes.
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from tests.conftest import TEST_SECRET_KEY
from tests.integration.access_world import World, build_world, console_client, grant
from tidings.bootstrap import Tidings
from tidings.domain.access_levels import AccessLevel
from tidings.domain.people import Privilege
from tidings.entrypoints.cli.main import app as cli

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PARKED_IN = ("una", "sue", "pat", "help")
_KEEPER = (Privilege.READ_MAILBOXES, Privilege.WRITE_MAILBOXES)


@pytest.fixture
def world(tidings: Tidings) -> World:
    world = build_world(tidings)
    grant(world, "una", "Own mailbox keeper", dict.fromkeys(_KEEPER, AccessLevel.USER))
    unit = AccessLevel.BUSINESS_UNIT
    grant(world, "sam", "Unit mailbox keeper", dict.fromkeys(_KEEPER, unit))
    for name in PARKED_IN:
        assert world.org.deliver(b"", name).summary.startswith("parked")
    return world


def _parked(world: World) -> dict[str, tuple[int, int]]:
    """Each parked email's (id, attempts) by its mailbox's name."""
    names = {f"{name}@northwind.example": name for name in PARKED_IN}
    return {
        names[p.mailbox_address]: (p.id, p.attempts) for p in world.org.tidings.queries.parked()
    }


def _attempts(world: World) -> dict[str, int]:
    return {name: attempts for name, (_id, attempts) in _parked(world).items()}


def test_replaying_one_parked_email_out_of_reach_is_not_found(world: World) -> None:
    ids = {name: parked_id for name, (parked_id, _) in _parked(world).items()}
    una, sam = world.clients["una"], world.clients["sam"]
    # Una (User level) replays her own; Sue's is another user's, Help's a queue's.
    for other in ("sue", "help", "pat"):
        refused = una.post(f"/api/parked/{ids[other]}/replay")
        assert refused.status_code == 404, (other, refused.text)
        assert refused.json()["detail"] == f"no parked email with id {ids[other]}"
    assert una.post(f"/api/parked/{ids['una']}/replay").status_code == 200
    # Sam (Business unit, Sales) reaches Sue's, not Pat's (Support).
    assert sam.post(f"/api/parked/{ids['pat']}/replay").status_code == 404
    assert sam.post(f"/api/parked/{ids['sue']}/replay").status_code == 200
    # Pat (Support) does not hold write mailboxes at all.
    assert world.clients["pat"].post(f"/api/parked/{ids['pat']}/replay").status_code == 403
    assert _attempts(world) == {"una": 2, "sue": 2, "pat": 1, "help": 1}


def test_replaying_all_parked_email_leaves_mailboxes_out_of_reach_alone(world: World) -> None:
    replayed = world.clients["una"].post("/api/parked/replay")
    assert replayed.status_code == 200, replayed.text
    assert len(replayed.json()) == 1
    assert _attempts(world) == {"una": 2, "sue": 1, "pat": 1, "help": 1}
    assert len(world.clients["sam"].post("/api/parked/replay").json()) == 2
    assert _attempts(world) == {"una": 3, "sue": 2, "pat": 1, "help": 1}
    assert len(world.clients["admin"].post("/api/parked/replay").json()) == 4
    assert _attempts(world) == {"una": 4, "sue": 3, "pat": 2, "help": 2}


def test_the_console_replays_only_parked_email_in_reach(world: World) -> None:
    console, csrf = console_client(world.org.tidings, "una@northwind.example")
    form = {"csrf_token": csrf}
    listed = console.get("/parked")
    assert re.findall(r"<td>(\w+)@northwind.example</td>", listed.text) == ["una"]
    assert listed.text.count(">Replay</button>") == 1
    # Pat reads her own mailbox and Help's but may change neither: no replay is offered.
    pats, _ = console_client(world.org.tidings, "pat@northwind.example")
    shown = pats.get("/parked").text
    assert re.findall(r"<td>(\w+)@northwind.example</td>", shown) == ["pat", "help"]
    assert "Replay" not in shown
    help_id = _parked(world)["help"][0]
    refused = console.post(f"/parked/{help_id}/replay", data=form, follow_redirects=False)
    assert refused.status_code == 404
    assert "Sign out" in refused.text
    everything = console.post("/parked/replay", data=form, follow_redirects=False)
    assert everything.status_code == 303
    assert _attempts(world) == {"una": 2, "sue": 1, "pat": 1, "help": 1}


def test_the_command_line_replays_every_mailboxs_parked_email(world: World) -> None:
    env = {
        "TIDINGS_DATABASE_URL": world.org.tidings.settings.database_url,
        "TIDINGS_PARSE_WORKERS": "0",
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
    }
    result = CliRunner().invoke(cli, ["replay", "--all"], env=env)
    assert result.exit_code == 1, result.output  # each is parked again: nothing changed in it
    assert _attempts(world) == {"una": 2, "sue": 2, "pat": 2, "help": 2}
