"""Credentials are encrypted at rest, never stored or shown in clear, and keys can rotate."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.builders import Org
from tidings.adapters.secrets import FernetSecretBox, SecretError
from tidings.adapters.storage import tables
from tidings.domain.credentials import CredentialKey, CredentialScope, Direction
from tidings.domain.errors import NotAuthorizedError
from tidings.domain.people import Caller, Privilege


def test_a_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    # Without TIDINGS_SECRET_KEYS the key lives in a file only its owner can read.
    key_file = tmp_path / "var" / "secret.key"
    first = FernetSecretBox.from_environment(None, key_file)
    sealed = first.seal("hunter2")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert FernetSecretBox.from_environment(None, key_file).open(sealed) == "hunter2"


def test_rotation_keeps_old_secrets_readable_and_reseals_them_with_the_new_key() -> None:
    old, new = FernetSecretBox.new_key(), FernetSecretBox.new_key()
    sealed_with_old = FernetSecretBox.from_environment(old, Path("unused")).seal("pw")
    both = FernetSecretBox.from_environment(f"{new},{old}", Path("unused"))
    assert both.open(sealed_with_old) == "pw"
    rotated = both.rotate(sealed_with_old)
    assert FernetSecretBox.from_environment(new, Path("unused")).open(rotated) == "pw"


def test_a_secret_sealed_with_a_lost_key_says_what_to_do() -> None:
    sealed = FernetSecretBox.from_environment(FernetSecretBox.new_key(), Path("x")).seal("pw")
    other = FernetSecretBox.from_environment(FernetSecretBox.new_key(), Path("x"))
    with pytest.raises(SecretError, match="enter the password again"):
        other.open(sealed)
    assert "hunter" not in repr(other) and "keys hidden" in repr(other)


def test_a_mailbox_password_is_stored_sealed_never_in_clear(org: Org) -> None:
    # The database holds a Fernet token, not the password.
    admin = Caller(org.users["dana"], frozenset(Privilege))
    org.tidings.mailboxes.set_credentials(admin, org.mailboxes["dana"], "dana", "s3cret-pass")
    with org.tidings.engine.connect() as connection:
        row = connection.execute(select(tables.credentials)).mappings().one()
    assert row["username"] == "dana"
    assert "s3cret-pass" not in row["sealed_secret"]
    key = CredentialKey(CredentialScope.MAILBOX, org.mailboxes["dana"], Direction.INCOMING)
    with org.tidings.uow() as uow:
        username, sealed = uow.credentials.get(key)
    assert (username, sealed) == ("dana", row["sealed_secret"])


def test_setting_credentials_needs_the_write_privilege(org: Org) -> None:
    nobody = Caller(org.users["dana"], frozenset())
    with pytest.raises(NotAuthorizedError, match="lack the privilege write_mailboxes"):
        org.tidings.mailboxes.set_credentials(nobody, org.mailboxes["dana"], "d", "p")


def test_approve_email_needs_the_approving_privilege_and_a_new_address_resets_it(org: Org) -> None:
    # D365: only holders of the approve privilege approve; changing the address un-approves.
    org.add_user("sam", approved=False, enabled=False)
    mailbox_id = org.mailboxes["sam"]
    reader = Caller(org.users["dana"], frozenset({Privilege.READ_MAILBOXES}))
    with pytest.raises(NotAuthorizedError, match="approve_email"):
        org.tidings.mailboxes.approve_email(reader, [mailbox_id])
    approver = Caller(org.users["dana"], frozenset({Privilege.APPROVE_EMAIL}))
    [approved] = org.tidings.mailboxes.approve_email(approver, [mailbox_id])
    assert approved.is_approved
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(mailbox_id)
        mailbox.change_address("samuel@northwind.example")
        uow.mailboxes.save(mailbox)
        uow.commit()
        assert not uow.mailboxes.get(mailbox_id).is_approved


def test_rotate_keys_reseals_every_stored_secret_with_the_new_key(org: Org, tmp_path: Path) -> None:
    # Rotation: new key first, old after; afterwards the new key alone opens everything,
    # webhooks' signing secrets included.
    from typer.testing import CliRunner

    from tests.conftest import TEST_SECRET_KEY
    from tidings.domain.webhooks import EventType, WebhookSubscription
    from tidings.entrypoints.cli.main import app

    admin = Caller(org.users["dana"], frozenset(Privilege))
    org.tidings.mailboxes.set_credentials(admin, org.mailboxes["dana"], "dana", "pw-1")
    with org.tidings.uow() as uow:
        hook = WebhookSubscription(
            "https://crm.example/hook", frozenset(EventType), created_at=org.tidings.clock.now()
        )
        hook_id = uow.webhooks.add_subscription(hook, org.tidings.secrets.seal("whsec-1"))
        uow.commit()
    new_key = FernetSecretBox.new_key()
    url = str(org.tidings.engine.url)
    result = CliRunner().invoke(
        app,
        ["rotate-keys"],
        env={"TIDINGS_DATABASE_URL": url, "TIDINGS_SECRET_KEYS": f"{new_key},{TEST_SECRET_KEY}"},
    )
    assert result.exit_code == 0, result.output
    assert "2 secret(s) sealed with the newest key." in result.output
    key = CredentialKey(CredentialScope.MAILBOX, org.mailboxes["dana"], Direction.INCOMING)
    with org.tidings.uow() as uow:
        _, sealed = uow.credentials.get(key)
    new_only = FernetSecretBox.from_environment(new_key, tmp_path / "unused")
    assert new_only.open(sealed) == "pw-1"
    with org.tidings.uow() as uow:
        [(found_id, hook_sealed)] = uow.webhooks.all_sealed()
    assert (found_id, new_only.open(hook_sealed)) == (hook_id, "whsec-1")
