"""The documented shapes of Graph's answers Tidings reads, parsed into plain values.

Delta pages: learn.microsoft.com/graph/api/message-delta. Each page holds ``value`` (messages,
or ``@removed`` entries for those gone from the folder) and either ``@odata.nextLink`` (more
now) or ``@odata.deltaLink`` (the round is over; ask it later for what changed since).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

#: The properties a delta round asks for: enough to order and filter, no bodies; and the
#: categories, where a person's "Tracked" category is read.
DELTA_SELECT = "receivedDateTime,categories"


@dataclass(frozen=True)
class DeltaItem:
    id: str
    received_at: datetime | None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedDeltaPage:
    #: Messages in the folder that are new or changed, oldest first; removals left out.
    items: tuple[DeltaItem, ...]
    next_link: str | None
    delta_link: str | None
    #: Ids of messages gone from the folder (deleted, or moved out): the ``@removed`` entries.
    removed: tuple[str, ...] = ()


def parse_delta_page(body: dict[str, object]) -> ParsedDeltaPage:
    """One page of a message delta round."""
    values = body.get("value")
    items = [
        DeltaItem(
            str(entry["id"]),
            parse_time(entry.get("receivedDateTime")),
            parse_categories(entry.get("categories")),
        )
        for entry in (values if isinstance(values, list) else [])
        if isinstance(entry, dict) and "id" in entry and "@removed" not in entry
    ]
    # Graph lists a folder newest first; sync ingests oldest first, so replies follow mail.
    items.sort(key=lambda item: item.received_at.timestamp() if item.received_at else 0.0)
    removed = [
        str(entry["id"])
        for entry in (values if isinstance(values, list) else [])
        if isinstance(entry, dict) and "id" in entry and "@removed" in entry
    ]
    next_link, delta_link = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
    return ParsedDeltaPage(
        tuple(items),
        next_link if isinstance(next_link, str) else None,
        delta_link if isinstance(delta_link, str) else None,
        tuple(removed),
    )


def parse_categories(value: object) -> tuple[str, ...]:
    """A message's ``categories`` (a collection of strings), in its order."""
    if not isinstance(value, list):
        return ()
    return tuple(str(item) for item in value if isinstance(item, str))


def parse_time(value: object) -> datetime | None:
    """A Graph DateTimeOffset ("2026-11-20T09:00:00Z"), always in UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_time(moment: datetime) -> str:
    """A DateTimeOffset for ``$filter`` (UTC, whole seconds); ``moment`` is time-zone aware."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quote_odata(value: str) -> str:
    """A string literal for ``$filter``: single quotes doubled (OData ABNF)."""
    return "'" + value.replace("'", "''") + "'"
