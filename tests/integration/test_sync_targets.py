"""The folders sync follows are read again only when something they are made of changed:
each load reads a digest first, and every kind of change to the settings, the server
profiles, the mailboxes, their folder rules or their credentials is seen at the next load."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.builders import Org, statements_run
from tidings.domain.folders import INBOX
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile, ServerProfileKind
from tidings.domain.settings import EmailProcessing
from tidings.services.sync.model import SyncTarget
from tidings.services.sync.targets import SyncTargets


def _profile(name: str = "Mail") -> ServerProfile:
    return ServerProfile(
        name=name,
        kind=ServerProfileKind.IMAP_SMTP,
        incoming_host="imap.northwind.example",
        incoming_port=993,
        incoming_security=ConnectionSecurity.TLS,
        outgoing_host="smtp.northwind.example",
        outgoing_port=465,
        outgoing_security=ConnectionSecurity.TLS,
    )


@pytest.fixture
def syncing(org: Org) -> Org:
    """Dana and Sam syncing through one IMAP profile."""
    org.add_user("sam")
    org.use_profile(_profile(), {"dana": "dana-pass", "sam": "sam-pass"})
    return org


def _folders(targets: list[SyncTarget]) -> set[tuple[str, str]]:
    return {(target.address.split("@")[0], target.folder) for target in targets}


@contextmanager
def _statements(org: Org) -> Iterator[list[str]]:
    """The queries run meanwhile (transactions begun on SQLite left out)."""
    with statements_run(org.tidings.engine, "SELECT") as run:
        yield run


def test_a_load_with_nothing_changed_reads_only_the_digest(syncing: Org) -> None:
    targets = SyncTargets(syncing.tidings.uow, syncing.tidings.secrets)
    with _statements(syncing) as first:
        found = targets.load()
    assert _folders(found) == {("dana", INBOX), ("sam", INBOX)}
    with _statements(syncing) as again:
        assert targets.load() == found
    assert len(first) > 1
    assert len(again) == 1


def _disable_sam(org: Org) -> None:
    with org.tidings.uow() as uow:
        sam = uow.mailboxes.get(org.mailboxes["sam"])
        assert sam is not None
        sam.disable()
        uow.mailboxes.save(sam)
        uow.commit()


def _move_profile(org: Org) -> None:
    with org.tidings.uow() as uow:
        [profile] = uow.server_profiles.all()
        profile.incoming_host = "imap2.northwind.example"
        uow.server_profiles.save(profile)
        uow.commit()


def _new_password(org: Org) -> None:
    admin = Caller(org.users["dana"], frozenset(Privilege))
    org.tidings.mailboxes.set_credentials(
        admin, org.mailboxes["sam"], "sam@northwind.example", "new-pass"
    )


def _added(org: Org, name: str) -> str:
    org.add_user(name)
    return name


CHANGES: dict[str, tuple[Callable[[Org], None], Callable[[list[SyncTarget]], bool]]] = {
    "a mailbox disabled": (
        _disable_sam,
        lambda found: _folders(found) == {("dana", INBOX)},
    ),
    "a folder rule added": (
        lambda org: org.add_folder_rule("sam", "Contoso"),
        lambda found: ("sam", "Contoso") in _folders(found),
    ),
    "a password changed": (
        _new_password,
        lambda found: (
            {t.credential.password for t in found if t.address.startswith("sam")} == {"new-pass"}
        ),
    ),
    "a server profile changed": (
        _move_profile,
        lambda found: {t.profile.incoming_host for t in found} == {"imap2.northwind.example"},
    ),
    "server-side sync turned off": (
        lambda org: org.configure(processing=EmailProcessing.NONE),
        lambda found: found == [],
    ),
    "a new mailbox": (
        lambda org: org.use_profile(_profile("Other"), {_added(org, "lee"): "lee-pass"}),
        lambda found: ("lee", INBOX) in _folders(found),
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_each_kind_of_change_is_seen_at_the_next_load(syncing: Org, change: str) -> None:
    targets = SyncTargets(syncing.tidings.uow, syncing.tidings.secrets)
    make, seen = CHANGES[change]
    before = targets.load()
    assert not seen(before)
    make(syncing)
    assert seen(targets.load())
    assert seen(targets.load())  # and kept while nothing changes again
