"""Folder-level tracking rules of a mailbox: one's own always, another's only within the
privilege's reach, and a refusal that tells nothing of whether the mailbox exists."""

from __future__ import annotations

import pytest

from tests.builders import Org
from tests.conftest import TickingClock, settings_for
from tidings.bootstrap import bootstrap
from tidings.domain.errors import NotAuthorizedError
from tidings.domain.people import Caller
from tidings.services.personal_options import FolderRuleInput


def test_folder_rules_refuse_a_caller_without_the_privilege_alike_for_mailboxes_that_exist_or_not(
    database_url: str,
) -> None:
    # Without write_mailboxes at any level, another mailbox's folder rules are refused the
    # same way whether it exists or not: the answer tells nothing of other people's
    # mailboxes. One's own mailbox's rules are one's own.
    tidings = bootstrap(settings_for(database_url), clock=TickingClock())
    try:
        org = Org.create(tidings)
        org.add_user("sam")
        org.add_user("nobody", tracking_role=False)
        nobody = Caller(org.users["nobody"], frozenset())
        options = tidings.personal_options
        rule = FolderRuleInput("Projects")
        for mailbox_id in (org.mailboxes["sam"], 10**6):
            with pytest.raises(NotAuthorizedError):
                options.add_folder_rule(nobody, mailbox_id, rule)
            with pytest.raises(NotAuthorizedError):
                options.folder_rules(nobody, mailbox_id)
        assert [
            r.folder for r in options.add_folder_rule(nobody, org.mailboxes["nobody"], rule)
        ] == ["Projects"]
        assert (
            options.folder_rules(Caller(org.users["sam"], frozenset()), org.mailboxes["sam"]) == []
        )
    finally:
        tidings.close()
