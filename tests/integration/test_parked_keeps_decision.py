"""An email parked while its whole message is read keeps its header decision: ``tidings
explain`` still shows every rule's verdict next to the error, and replay decides it anew.

No real email makes the parser fail any more (deep and wide messages are cut to what it
reads), so the failure here comes from a parser that fails on purpose.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.builders import Org, TickingClock, make_email
from tidings.adapters.parsing import InlineParser
from tidings.domain.message import MessageOrigin, ParsedEmail
from tidings.domain.rules import RULES
from tidings.domain.tracking import Outcome
from tidings.services.tracking.pipeline import IngestService


class _FailingFullParse(InlineParser):
    """Reads headers as Tidings does; reading a whole email fails."""

    def start_email(self, raw: bytes) -> Callable[[], ParsedEmail]:
        def fail() -> ParsedEmail:
            raise MemoryError("the email could not be read")

        return fail


def test_an_email_parked_while_read_keeps_every_rules_verdict(org: Org) -> None:
    ingest = IngestService(org.tidings.uow, TickingClock(), _FailingFullParse())
    origin = MessageOrigin(org.mailboxes["dana"], "INBOX", 1, "77")

    result = ingest.ingest(make_email(message_id="<parked-read@contoso.example>"), origin)

    assert result.outcome is Outcome.PARKED
    explained = org.tidings.explain.by_raw_id(result.raw_message_id)
    assert explained.outcome is Outcome.PARKED
    assert [r.rule for r in explained.reasons] == [rule.name for rule in RULES]
    assert explained.summary.endswith("parked while reading the whole email: MemoryError")
    assert explained.parked_error is not None and "MemoryError" in explained.parked_error
    assert explained.activity_id is None
    [parked] = org.tidings.queries.parked()

    replayed = org.tidings.replay.replay(parked.id)

    assert replayed.outcome is Outcome.TRACKED
    assert org.tidings.queries.parked() == []
    assert org.tidings.explain.by_raw_id(result.raw_message_id).activity_id == replayed.activity_id
