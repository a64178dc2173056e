"""Rows to domain objects and back: the only place that knows both shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidings.domain.mailbox import Alert, ApprovalStatus, Mailbox, TestStatus
from tidings.domain.people import PersonalOptions, TrackIncoming
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.settings import (
    AmbiguousMatch,
    EmailConfiguration,
    EmailProcessing,
    SyncMethod,
    TrackingTokenFormat,
)


def ref_from(kind: str | None, ident: int | None) -> RecordRef | None:
    """A record reference from a (kind, id) column pair; ``None`` if either is empty."""
    if kind is None or ident is None:
        return None
    return RecordRef(RecordKind(kind), ident)


def ref_columns(prefix: str, ref: RecordRef | None) -> dict[str, Any]:
    """The (kind, id) column pair for ``ref`` under ``prefix``."""
    return {
        f"{prefix}_kind": ref.kind.value if ref else None,
        f"{prefix}_id": ref.id if ref else None,
    }


def options_from(row: Any) -> PersonalOptions:
    return PersonalOptions(
        track_incoming=TrackIncoming(row["track_incoming"]),
        create_contacts_for_unknown_senders=row["create_contacts_for_unknown_senders"],
    )


def options_columns(options: PersonalOptions) -> dict[str, Any]:
    return {
        "track_incoming": options.track_incoming.value,
        "create_contacts_for_unknown_senders": options.create_contacts_for_unknown_senders,
    }


def configuration_from(row: Any) -> EmailConfiguration:
    return EmailConfiguration(
        processing=EmailProcessing(row["processing"]),
        default_incoming_method=SyncMethod(row["default_incoming_method"]),
        default_outgoing_method=SyncMethod(row["default_outgoing_method"]),
        process_only_approved_mailboxes=row["process_only_approved_mailboxes"],
        use_tracking_token=row["use_tracking_token"],
        tracking_token=TrackingTokenFormat(
            prefix=row["tracking_token_prefix"],
            deployment_digits=row["tracking_token_deployment_digits"],
            user_digits=row["tracking_token_user_digits"],
            counter_digits=row["tracking_token_counter_digits"],
        ),
        use_correlation=row["use_correlation"],
        use_smart_matching=row["use_smart_matching"],
        smart_matching_min_recipients=row["smart_matching_min_recipients"],
        ambiguous_match=AmbiguousMatch(row["ambiguous_match"]),
        track_between_users_as_two_activities=row["track_between_users_as_two_activities"],
        folder_level_tracking=row["folder_level_tracking"],
        max_attachment_kb=row["max_attachment_kb"],
        blocked_extensions=frozenset(row["blocked_extensions"].split()),
        skip_automated_email=row["skip_automated_email"],
        tracking_address=row["tracking_address"],
        use_tracked_category=row["use_tracked_category"],
        tracked_category=row["tracked_category"],
    )


def configuration_columns(config: EmailConfiguration) -> dict[str, Any]:
    token = config.tracking_token
    return {
        "processing": config.processing.value,
        "default_incoming_method": config.default_incoming_method.value,
        "default_outgoing_method": config.default_outgoing_method.value,
        "process_only_approved_mailboxes": config.process_only_approved_mailboxes,
        "use_tracking_token": config.use_tracking_token,
        "tracking_token_prefix": token.prefix,
        "tracking_token_deployment_digits": token.deployment_digits,
        "tracking_token_user_digits": token.user_digits,
        "tracking_token_counter_digits": token.counter_digits,
        "use_correlation": config.use_correlation,
        "use_smart_matching": config.use_smart_matching,
        "smart_matching_min_recipients": config.smart_matching_min_recipients,
        "ambiguous_match": config.ambiguous_match.value,
        "track_between_users_as_two_activities": config.track_between_users_as_two_activities,
        "folder_level_tracking": config.folder_level_tracking,
        "max_attachment_kb": config.max_attachment_kb,
        "blocked_extensions": " ".join(sorted(config.blocked_extensions)),
        "skip_automated_email": config.skip_automated_email,
        "tracking_address": config.tracking_address,
        "use_tracked_category": config.use_tracked_category,
        "tracked_category": config.tracked_category,
    }


def email_columns(emails: tuple[str, ...]) -> dict[str, str | None]:
    """D365's emailaddress1–3 from up to three addresses."""
    padded = (*emails, None, None, None)
    return {f"emailaddress{n}": padded[n - 1] for n in (1, 2, 3)}


def emails_from(row: Any) -> tuple[str, ...]:
    return tuple(row[f"emailaddress{n}"] for n in (1, 2, 3) if row[f"emailaddress{n}"])


def mailbox_from(row: Mapping[Any, Any], alerts: Sequence[Alert] = ()) -> Mailbox:
    """A mailbox from its row (and, where the reader needs them, its alerts)."""
    return Mailbox(
        address=row["address"],
        owner=RecordRef(RecordKind(row["owner_kind"]), row["owner_id"]),
        profile_id=row["profile_id"],
        incoming_method=SyncMethod(row["incoming_method"]),
        outgoing_method=SyncMethod(row["outgoing_method"]),
        approval=ApprovalStatus(row["approval"]),
        incoming_status=TestStatus(row["incoming_status"]),
        outgoing_status=TestStatus(row["outgoing_status"]),
        enabled=row["enabled"],
        alerts=list(alerts),
        id=row["id"],
    )
