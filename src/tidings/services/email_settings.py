"""Settings › Email configuration: reading and changing the organization's email settings."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import fields, replace

from tidings.domain.errors import FieldValueError
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import normalize_address
from tidings.domain.settings import EmailConfiguration, check_configuration
from tidings.domain.tracked_category import check_category
from tidings.services.changes import apply_changes
from tidings.services.ports import UnitOfWork
from tidings.services.untracked_folders import forget_all_rule_folders

#: Every setting an admin may change; all of EmailConfiguration.
EDITABLE = tuple(f.name for f in fields(EmailConfiguration))

_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_EXTENSION = re.compile(r"[a-z0-9][a-z0-9_+-]{0,15}")


class EmailSettingsService:
    """D365's System Settings › Email tab, checked against the caller's roles."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._uow = uow_factory

    def get(self, caller: Caller) -> EmailConfiguration:
        """The organization's email configuration settings."""
        caller.require(Privilege.READ_SETTINGS)
        with self._uow() as uow:
            return uow.settings.get()

    def update(self, caller: Caller, changes: Mapping[str, object]) -> EmailConfiguration:
        """Apply ``changes`` (field name to value; the tracking token as a mapping of its
        own fields) and return the settings as saved. Nothing is saved if any value is bad."""
        caller.require(Privilege.WRITE_SETTINGS)
        with self._uow() as uow:
            before = uow.settings.get()
            config = apply_changes(before, changes, EDITABLE)
            config = check_configuration(_normalized(config))
            _check_tracking_address_free(uow, config.tracking_address)
            uow.settings.save(config)
            if before.folder_level_tracking and not config.folder_level_tracking:
                forget_all_rule_folders(uow)
            uow.commit()
        return config


def _normalized(config: EmailConfiguration) -> EmailConfiguration:
    """Blocked extensions compare without their dot and case, as file names are matched."""
    extensions = set()
    for given in config.blocked_extensions:
        extension = str(given).strip().lstrip(".").lower()
        if not _EXTENSION.fullmatch(extension):
            problem = f"{given!r} is not a file extension"
            raise FieldValueError({"blocked_extensions": problem}, f"blocked extensions: {problem}")
        extensions.add(extension)
    prefix = config.tracking_token.prefix
    if len(prefix) > 20:
        raise FieldValueError(
            {"tracking_token.prefix": "at most 20 characters"},
            "the tracking token prefix can have at most 20 characters",
        )
    return replace(
        config,
        blocked_extensions=frozenset(extensions),
        tracking_address=_tracking_address(config.tracking_address),
        tracked_category=check_category(config.tracked_category),
    )


def _check_tracking_address_free(uow: UnitOfWork, address: str | None) -> None:
    """Every email at the tracking address is tracked for its sender, never for the mailbox's
    owner: a person's own address would stop their email being tracked for them."""
    if address is not None and uow.directory.get_user_by_email(address) is not None:
        problem = f"{address} is a user's address; name a queue's mailbox"
        raise FieldValueError({"tracking_address": problem}, f"tracking address: {problem}")


def _tracking_address(value: object) -> str | None:
    """The tracking address as mailboxes keep addresses; empty means none."""
    if value is None:
        return None
    address = normalize_address(str(value))
    if not address:
        return None
    if not _ADDRESS.fullmatch(address) or len(address) > 320:
        problem = f"{value!r} is not an email address"
        raise FieldValueError({"tracking_address": problem}, f"tracking address: {problem}")
    return address
