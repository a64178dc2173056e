"""The corpus through the real ingest path, on SQLite and PostgreSQL: each case with expected
fields in MANIFEST.toml is recorded with exactly those fields.

The organization tracks automated email here, so that automated cases are recorded too and
their explanation names the header that marks them; with the default settings they are not
tracked (test_bad_input.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.builders import Org
from tests.corpus_fields import CORPUS, EXPECTED
from tidings.domain.activity import ParticipationRole
from tidings.domain.attachments import UNREAD_PARTS_NAME
from tidings.domain.tracking import Outcome, Verdict


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_corpus_email_is_recorded_with_exactly_the_expected_fields(org: Org, name: str) -> None:
    expected = EXPECTED[name]
    org.configure(skip_automated_email=False)

    result = org.deliver((CORPUS / name).read_bytes())

    assert result.outcome is Outcome.TRACKED, result.summary
    assert result.activity_id is not None
    activity = org.tidings.queries.activity(result.activity_id).activity
    parties: dict[ParticipationRole, list[list[str]]] = {}
    for party in activity.parties:
        parties.setdefault(party.role, []).append([party.name, party.address])
    attachments = [a for a in activity.attachments if a.filename != UNREAD_PARTS_NAME]
    unread = [a.blocked_reason for a in activity.attachments if a.filename == UNREAD_PARTS_NAME]
    recorded: dict[str, Any] = {
        "subject": activity.subject,
        "from": parties[ParticipationRole.FROM][0][1],
        "from_name": parties[ParticipationRole.FROM][0][0],
        "to": parties.get(ParticipationRole.TO, []),
        "cc": parties.get(ParticipationRole.CC, []),
        "bcc": parties.get(ParticipationRole.BCC, []),
        "message_id": activity.message_id,
        "in_reply_to": activity.in_reply_to,
        "text_body": activity.text_body,
        "attachments": [a.filename for a in attachments],
        "blocked": [a.filename for a in attachments if a.is_blocked],
        "unread": unread,
    }
    assert recorded == {
        **{key: expected[key] for key in recorded if key in expected},
        "in_reply_to": expected["in_reply_to"][0] if expected["in_reply_to"] else None,
        "unread": [expected["unread"]] if "unread" in expected else [],
    }
    reasons = {r.rule: r for r in org.tidings.explain.by_raw_id(result.raw_message_id).reasons}
    automated = reasons["automated_email"]
    if expected["automated"]:
        assert automated.verdict is Verdict.NOT_APPLICABLE
        assert f"marked by {expected['automated']})" in automated.text
    else:
        assert automated.verdict is Verdict.PASS, automated.text
