"""Finding the tracked email an incoming one answers, and so its regarding record.

The order is D365's: In-Reply-To (then References), the tracking token in the subject,
Outlook's conversation index, then smart matching (subject plus shared recipients), which is
off by default. The first method that finds a tracked email wins; the email then joins that
activity's conversation (``domain.conversation``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import replace
from typing import Protocol

from tidings.domain.activity import CorrelationMethod
from tidings.domain.conversation import bound_references
from tidings.domain.folders import FolderTrackingRule
from tidings.domain.message import HeaderSummary
from tidings.domain.settings import EmailConfiguration, TrackingTokenFormat
from tidings.domain.tracking import NO_CORRELATION, Correlation

_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs|tr|rv|antw)\s*(\[\d+\])?\s*:\s*)+", re.I)


class CorrelationLookup(Protocol):
    """Queries over tracked email that correlation needs; the service implements them."""

    def by_message_ids(self, message_ids: tuple[str, ...]) -> Correlation | None: ...

    def by_tracking_token(self, token: str) -> Correlation | None: ...

    def by_conversation(self, conversation_id: str) -> Correlation | None: ...

    def by_subject(
        self, subject_key: str, addresses: set[str], min_shared: int
    ) -> Correlation | None: ...


@functools.lru_cache(maxsize=32)
def token_pattern(token_format: TrackingTokenFormat) -> re.Pattern[str]:
    """A regular expression that finds a tracking token of this format in a subject."""
    digits = token_format.total_digits
    return re.compile(rf"{re.escape(token_format.prefix)}\s?(\d{{{digits}}})(?!\d)", re.I)


def find_tracking_token(subject: str, token_format: TrackingTokenFormat) -> str | None:
    """The token in ``subject`` written canonically (``CRM:0001001``), or ``None``."""
    match = token_pattern(token_format).search(subject)
    return f"{token_format.prefix}{match.group(1)}" if match else None


def format_tracking_token(
    token_format: TrackingTokenFormat, *, user_number: int, counter: int, deployment: int = 0
) -> str:
    """A new token: deployment, user number and counter digits after the prefix."""
    parts = (
        (deployment, token_format.deployment_digits),
        (user_number, token_format.user_digits),
        (counter, token_format.counter_digits),
    )
    digits = "".join(str(value % 10**width).zfill(width) for value, width in parts if width)
    return f"{token_format.prefix}{digits}"


def subject_key(subject: str, token_format: TrackingTokenFormat | None = None) -> str:
    """A hash of the subject without reply prefixes, token and case: smart matching's key."""
    text = _REPLY_PREFIX.sub("", subject)
    if token_format is not None:
        text = token_pattern(token_format).sub("", text)
    normalized = " ".join(text.lower().split())
    return hashlib.sha1(normalized.encode(), usedforsecurity=False).hexdigest()[:20]


def correlate(
    headers: HeaderSummary, config: EmailConfiguration, lookup: CorrelationLookup
) -> Correlation:
    """The first tracked email found by the methods the organization enables."""
    if config.use_correlation:
        # Only the bounded chain is looked up: a hostile References may hold thousands.
        ids = (*headers.in_reply_to, *reversed(bound_references(headers.references)))
        if ids and (found := lookup.by_message_ids(ids)) is not None:
            return found
    if config.use_tracking_token:
        token = find_tracking_token(headers.subject, config.tracking_token)
        if token is not None and (found := lookup.by_tracking_token(token)) is not None:
            return found
    conversation = headers.conversation_id if config.use_correlation else None
    if conversation is not None and (found := lookup.by_conversation(conversation)) is not None:
        return found
    if config.use_smart_matching:
        key = subject_key(headers.subject, config.tracking_token)
        minimum = config.smart_matching_min_recipients
        if (found := lookup.by_subject(key, headers.addresses(), minimum)) is not None:
            return found
    return NO_CORRELATION


def choose_regarding(
    correlation: Correlation, folder_rule: FolderTrackingRule | None
) -> Correlation:
    """A folder rule's regarding record, set by an admin, outranks what correlation found."""
    if folder_rule is None or folder_rule.regarding is None:
        return correlation
    # The email still answers what correlation found: only the regarding record changes.
    return replace(
        correlation, method=CorrelationMethod.FOLDER_RULE, regarding=folder_rule.regarding
    )
