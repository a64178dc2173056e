"""Correlation: tracking tokens, smart-matching subject keys, and the order methods run in."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from tidings.domain.activity import CorrelationMethod
from tidings.domain.correlation import (
    choose_regarding,
    correlate,
    find_tracking_token,
    format_tracking_token,
    subject_key,
    token_pattern,
)
from tidings.domain.folders import FolderTrackingRule
from tidings.domain.message import Address, HeaderSummary
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.settings import EmailConfiguration, TrackingTokenFormat
from tidings.domain.tracking import NO_CORRELATION, Correlation

DEFAULT = TrackingTokenFormat()
#: A custom format: another prefix, no deployment digit, 2 user and 4 counter digits.
CUSTOM = TrackingTokenFormat(prefix="TID#", deployment_digits=0, user_digits=2, counter_digits=4)
DEAL = RecordRef(RecordKind.OPPORTUNITY, 5)

BY_MESSAGE_IDS = Correlation(CorrelationMethod.IN_REPLY_TO, 1, DEAL)
BY_TOKEN = Correlation(CorrelationMethod.TRACKING_TOKEN, 2, DEAL)
BY_CONVERSATION = Correlation(CorrelationMethod.CONVERSATION_INDEX, 3, DEAL)
BY_SUBJECT = Correlation(CorrelationMethod.SMART_MATCHING, 4, DEAL)


@dataclass
class RecordingLookup:
    """A ``CorrelationLookup`` that answers from a table and records every query it gets."""

    answers: dict[str, Correlation] = field(default_factory=dict)
    calls: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)

    def by_message_ids(self, message_ids: tuple[str, ...]) -> Correlation | None:
        return self._answer("by_message_ids", message_ids)

    def by_tracking_token(self, token: str) -> Correlation | None:
        return self._answer("by_tracking_token", token)

    def by_conversation(self, conversation_id: str) -> Correlation | None:
        return self._answer("by_conversation", conversation_id)

    def by_subject(
        self, subject_key: str, addresses: set[str], min_shared: int
    ) -> Correlation | None:
        return self._answer("by_subject", subject_key, addresses, min_shared)

    def _answer(self, method: str, *args: object) -> Correlation | None:
        self.calls.append((method, args))
        return self.answers.get(method)

    @property
    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]


def answering_all() -> RecordingLookup:
    """A lookup where every method would find a tracked email."""
    return RecordingLookup(
        {
            "by_message_ids": BY_MESSAGE_IDS,
            "by_tracking_token": BY_TOKEN,
            "by_conversation": BY_CONVERSATION,
            "by_subject": BY_SUBJECT,
        }
    )


def make_headers(**changes: object) -> HeaderSummary:
    """A reply from Maria to Dana and Tom carrying every correlation clue."""
    headers = HeaderSummary(
        message_id="<reply@contoso.example>",
        subject="RE: Proposal CRM:0001001",
        sender=Address("Maria", "maria@contoso.example"),
        to=(Address("Dana", "dana@northwind.example"),),
        cc=(Address("Tom", "tom@contoso.example"),),
        bcc=(),
        date=None,
        in_reply_to=("<sent@northwind.example>",),
        references=("<first@northwind.example>", "<sent@northwind.example>"),
        conversation_id="01da7b2c9e4088d07a2cd0e13470c422cb697b414633",
        auto_submitted="",
        is_autoreply_flagged=False,
        report_type="",
        precedence="",
        return_path=None,
    )
    return replace(headers, **changes)  # type: ignore[arg-type]


SMART = EmailConfiguration(use_smart_matching=True)


# --- tracking tokens ----------------------------------------------------------------------


def test_the_default_token_is_crm_colon_and_seven_digits() -> None:
    # D365's default shape: CRM: then 1 deployment, 3 user and 3 counter digits.
    assert DEFAULT.total_digits == 7
    assert token_pattern(DEFAULT).fullmatch("CRM:0001001") is not None


@pytest.mark.parametrize(
    "subject",
    [
        "RE: Proposal CRM:0001001",
        "CRM: 0001001",
        "crm:0001001",
        "Crm:0001001 follow-up",
        "Re: Quote for Q3 CRM:0001001",
        "[CRM:0001001]",
    ],
)
def test_a_token_is_found_anywhere_in_the_subject_and_written_canonically(subject: str) -> None:
    # The prefix matches in any case, one space may follow it, and the token comes back as sent.
    assert find_tracking_token(subject, DEFAULT) == "CRM:0001001"


@pytest.mark.parametrize(
    "subject",
    [
        "Proposal CRM:00010011",  # eight digits
        "Proposal CRM:000100",  # six digits
        "Proposal CRM:  0001001",  # two spaces
        "Proposal CRM-0001001",  # another separator
        "Proposal 0001001",  # no prefix
        "Proposal",
        "",
    ],
)
def test_no_token_is_found_without_the_prefix_and_exactly_seven_digits(subject: str) -> None:
    # A digit count other than the format's, or a different prefix, is not a token.
    assert find_tracking_token(subject, DEFAULT) is None


def test_a_custom_format_finds_its_own_prefix_and_digit_count() -> None:
    # A custom prefix (with a regex metacharacter) and 6 digits: only that shape matches.
    assert CUSTOM.total_digits == 6
    assert find_tracking_token("Re: Offer tid#070042", CUSTOM) == "TID#070042"
    assert find_tracking_token("Re: Offer TID# 070042", CUSTOM) == "TID#070042"
    assert find_tracking_token("Re: Offer TID#0700421", CUSTOM) is None
    assert find_tracking_token("Re: Offer CRM:0001001", CUSTOM) is None


def test_a_custom_prefix_is_matched_literally_not_as_a_regular_expression() -> None:
    # "." in a prefix matches only a dot.
    dotted = TrackingTokenFormat(prefix="T.")

    assert find_tracking_token("T.0001001", dotted) == "T.0001001"
    assert find_tracking_token("TX0001001", dotted) is None


def test_format_tracking_token_writes_deployment_user_and_counter_digits() -> None:
    # Each part is zero-padded to its width after the prefix.
    assert format_tracking_token(DEFAULT, user_number=1, counter=1) == "CRM:0001001"
    assert format_tracking_token(DEFAULT, user_number=42, counter=7, deployment=3) == "CRM:3042007"


def test_format_tracking_token_keeps_the_low_digits_of_values_too_wide() -> None:
    # A counter past its width wraps, so the token keeps the format's length.
    token = format_tracking_token(DEFAULT, user_number=1234, counter=5678, deployment=12)

    assert token == "CRM:2234678"


def test_format_tracking_token_leaves_out_parts_of_zero_width() -> None:
    # With no deployment digits the token is prefix, user digits, counter digits.
    assert format_tracking_token(CUSTOM, user_number=7, counter=42) == "TID#070042"


def test_a_formatted_token_is_found_again() -> None:
    # What the CRM writes into a subject is what correlation finds in the reply.
    for token_format in (DEFAULT, CUSTOM):
        token = format_tracking_token(token_format, user_number=12, counter=345)
        assert find_tracking_token(f"RE: Offer {token}", token_format) == token


# --- subject keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Proposal",
        "RE: Proposal",
        "Fwd: Proposal",
        "FW: Proposal",
        "AW: Proposal",
        "WG: Proposal",
        "SV: Proposal",
        "Antw: Proposal",
        "Re: Fwd: RE: Proposal",
        "Re:Re:Proposal",
        "RE[2]: Proposal",
        "  re :  Proposal",
    ],
)
def test_subject_key_ignores_reply_and_forward_prefixes(subject: str) -> None:
    # Replies and forwards in any language share the original's key.
    assert subject_key(subject) == subject_key("Proposal")


def test_subject_key_ignores_case_and_whitespace() -> None:
    # Case and runs of whitespace don't change the key.
    assert subject_key("  PROPOSAL   for\t500 seats ") == subject_key("proposal for 500 seats")


def test_subject_key_removes_the_token_when_given_the_format() -> None:
    # The token differs between sent and forwarded copies; the key must not.
    with_token = subject_key("RE: Proposal CRM:0001001", DEFAULT)

    assert with_token == subject_key("Proposal", DEFAULT)
    assert subject_key("RE: Proposal CRM:0001001") != subject_key("Proposal")


def test_subject_key_keeps_prefix_like_words_that_are_not_prefixes() -> None:
    # "Reply", "Re-quote" or "Re:" in the middle are part of the subject, not a prefix.
    assert subject_key("Reply needed") != subject_key("needed")
    assert subject_key("Proposal Re: seats") != subject_key("Proposal seats")


def test_subject_key_tells_different_subjects_apart() -> None:
    # The key is a 20-character hex digest that differs for different subjects.
    key = subject_key("Proposal")

    assert len(key) == 20
    assert int(key, 16) >= 0
    assert key != subject_key("Invoice")


# --- correlate: order of methods ----------------------------------------------------------


def test_a_reply_with_in_reply_to_wins_over_the_token() -> None:
    # In-Reply-To is tried first; once it finds a tracked email nothing else is asked.
    lookup = answering_all()

    assert correlate(make_headers(), SMART, lookup) == BY_MESSAGE_IDS
    assert lookup.methods == ["by_message_ids"]


def test_in_reply_to_is_asked_first_then_references_newest_first() -> None:
    # One query with In-Reply-To, then the References from the most recent back.
    headers = make_headers(in_reply_to=("<c@x>",), references=("<a@x>", "<b@x>", "<c@x>"))
    lookup = RecordingLookup()

    correlate(headers, EmailConfiguration(), lookup)

    assert lookup.calls[0] == ("by_message_ids", (("<c@x>", "<c@x>", "<b@x>", "<a@x>"),))


def test_references_alone_are_enough_to_ask_for_message_ids() -> None:
    # Some clients write References but no In-Reply-To.
    lookup = RecordingLookup({"by_message_ids": BY_MESSAGE_IDS})

    found = correlate(make_headers(in_reply_to=(), references=("<a@x>",)), SMART, lookup)

    assert found == BY_MESSAGE_IDS
    assert lookup.calls == [("by_message_ids", (("<a@x>",),))]


def test_an_email_with_no_message_ids_does_not_query_them() -> None:
    # A new email has no In-Reply-To or References; the lookup is not asked for nothing.
    lookup = RecordingLookup()

    correlate(make_headers(in_reply_to=(), references=()), SMART, lookup)

    assert "by_message_ids" not in lookup.methods


def test_the_token_is_tried_when_no_message_id_matches() -> None:
    # The token comes second, and the lookup gets it in canonical form.
    lookup = answering_all()
    del lookup.answers["by_message_ids"]

    assert correlate(make_headers(subject="re: Proposal crm: 0001001"), SMART, lookup) == BY_TOKEN
    assert lookup.calls[1:] == [("by_tracking_token", ("CRM:0001001",))]


def test_the_token_is_read_in_the_organizations_custom_format() -> None:
    # With a custom format, only a token of that format is looked up.
    lookup = RecordingLookup()
    config = EmailConfiguration(tracking_token=CUSTOM)

    correlate(make_headers(subject="RE: Offer TID#070042 CRM:0001001"), config, lookup)

    assert ("by_tracking_token", ("TID#070042",)) in lookup.calls


def test_a_subject_without_a_token_does_not_query_tokens() -> None:
    # No token in the subject, no token query.
    lookup = RecordingLookup()

    correlate(make_headers(subject="RE: Proposal"), SMART, lookup)

    assert "by_tracking_token" not in lookup.methods


def test_the_conversation_index_is_tried_after_the_token() -> None:
    # Outlook's conversation comes third.
    lookup = RecordingLookup({"by_conversation": BY_CONVERSATION, "by_subject": BY_SUBJECT})

    assert correlate(make_headers(), SMART, lookup) == BY_CONVERSATION
    assert lookup.methods == ["by_message_ids", "by_tracking_token", "by_conversation"]
    assert lookup.calls[-1] == (
        "by_conversation",
        ("01da7b2c9e4088d07a2cd0e13470c422cb697b414633",),
    )


def test_smart_matching_comes_last_with_subject_key_addresses_and_minimum() -> None:
    # Smart matching gets the subject key (token removed), every address and the minimum.
    lookup = RecordingLookup({"by_subject": BY_SUBJECT})
    config = EmailConfiguration(use_smart_matching=True, smart_matching_min_recipients=3)

    assert correlate(make_headers(), config, lookup) == BY_SUBJECT
    assert lookup.methods == [
        "by_message_ids",
        "by_tracking_token",
        "by_conversation",
        "by_subject",
    ]
    assert lookup.calls[-1] == (
        "by_subject",
        (
            subject_key("Proposal"),
            {"maria@contoso.example", "dana@northwind.example", "tom@contoso.example"},
            3,
        ),
    )


def test_nothing_found_means_no_correlation() -> None:
    # When every enabled method comes back empty the email answers nothing tracked.
    lookup = RecordingLookup()

    assert correlate(make_headers(), SMART, lookup) is NO_CORRELATION
    assert NO_CORRELATION.method is CorrelationMethod.NONE


# --- correlate: options the organization turns off ----------------------------------------


def test_smart_matching_is_off_by_default() -> None:
    # D365 ships with smart matching off: the subject is never queried.
    lookup = RecordingLookup({"by_subject": BY_SUBJECT})

    assert correlate(make_headers(), EmailConfiguration(), lookup) is NO_CORRELATION
    assert "by_subject" not in lookup.methods


def test_turning_correlation_off_skips_message_ids_and_the_conversation() -> None:
    # "Use correlation" covers In-Reply-To/References and Outlook's conversation index.
    lookup = answering_all()
    config = SMART.evolve(use_correlation=False)

    assert correlate(make_headers(), config, lookup) == BY_TOKEN
    assert lookup.methods == ["by_tracking_token"]


def test_turning_correlation_off_goes_from_the_token_straight_to_smart_matching() -> None:
    # With correlation off, a token that finds nothing falls through to smart matching.
    lookup = RecordingLookup({"by_conversation": BY_CONVERSATION, "by_subject": BY_SUBJECT})
    config = SMART.evolve(use_correlation=False)

    assert correlate(make_headers(), config, lookup) == BY_SUBJECT
    assert lookup.methods == ["by_tracking_token", "by_subject"]


def test_turning_tracking_tokens_off_skips_the_token() -> None:
    # Without tracking tokens, a token in the subject is ignored.
    lookup = RecordingLookup({"by_tracking_token": BY_TOKEN})
    config = SMART.evolve(use_tracking_token=False)

    assert correlate(make_headers(), config, lookup) is NO_CORRELATION
    assert lookup.methods == ["by_message_ids", "by_conversation", "by_subject"]


def test_with_every_method_off_nothing_is_asked() -> None:
    # An organization that turns every method off correlates nothing.
    lookup = answering_all()
    config = EmailConfiguration(use_correlation=False, use_tracking_token=False)

    assert correlate(make_headers(), config, lookup) is NO_CORRELATION
    assert lookup.calls == []


# --- choose_regarding ---------------------------------------------------------------------


def test_a_folder_rules_regarding_record_outranks_what_correlation_found() -> None:
    # An admin's folder rule sets the regarding record; the matched activity is kept.
    case = RecordRef(RecordKind.CASE, 8)
    rule = FolderTrackingRule(1, "Cases", regarding=case)

    assert choose_regarding(BY_TOKEN, rule) == Correlation(
        CorrelationMethod.FOLDER_RULE, BY_TOKEN.activity_id, case
    )


def test_a_folder_rule_without_regarding_leaves_the_correlation_alone() -> None:
    # A rule that only says "track this folder" does not change the regarding record.
    rule = FolderTrackingRule(1, "Clients")

    assert choose_regarding(BY_TOKEN, rule) is BY_TOKEN


def test_without_a_folder_rule_the_correlation_stands() -> None:
    # Email in the Inbox keeps what correlation found, or no correlation at all.
    assert choose_regarding(BY_MESSAGE_IDS, None) is BY_MESSAGE_IDS
    assert choose_regarding(NO_CORRELATION, None) is NO_CORRELATION
