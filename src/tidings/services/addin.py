"""What the App for Outlook's task pane shows of the email open in Outlook: the caller's copy,
found by its Internet Message-ID, why it was (or wasn't) tracked, and its activity.

Only a copy in the caller's own mailbox is shown, unless the caller may write every activity:
an explanation is as private as the email.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tidings.domain.errors import NotFoundError
from tidings.domain.message import parse_message_ids
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordKind, RecordRef
from tidings.services.explain import ExplainService, Explanation
from tidings.services.ports import UnitOfWork
from tidings.services.queries import ActivityDetail, QueryService


@dataclass(frozen=True)
class OpenEmail:
    """The caller's copy of the email open in Outlook, with its story and its activity."""

    trace: Explanation
    detail: ActivityDetail | None


class AddinService:
    """Reads for the task pane; the tracking role is needed for all of them."""

    def __init__(
        self, uow_factory: Callable[[], UnitOfWork], explain: ExplainService, queries: QueryService
    ) -> None:
        self._uow = uow_factory
        self._explain = explain
        self._queries = queries

    def open_email(self, caller: Caller, message_id: str, item_id: str = "") -> OpenEmail | None:
        """The caller's copy of the email with this Message-ID (or, failing that, with this
        item id, which mail APIs give their email), or ``None`` if Tidings has none the
        caller may see (not synced yet, or not in a mailbox Tidings syncs)."""
        caller.require(Privilege.TRACK_EMAIL)
        me = RecordRef(RecordKind.USER, caller.user.id) if caller.user.id is not None else None
        with self._uow() as uow:
            raw_ids: list[int] = []
            if message_id.strip():
                ids = parse_message_ids(message_id) or (f"<{message_id.strip()}>",)
                raw_ids = uow.raw_messages.ids_by_message_id(ids[0])
            if not raw_ids and item_id.strip():
                mine = [m.id for m in uow.mailboxes.all() if m.owner == me and m.id is not None]
                raw_ids = uow.raw_messages.ids_by_uids(mine, _item_ids(item_id.strip()))
            owners = {}
            for raw_id in raw_ids:
                mailbox_id = uow.raw_messages.require(raw_id).origin.mailbox_id
                mailbox = uow.mailboxes.get(mailbox_id)
                owners[raw_id] = mailbox.owner if mailbox else None
            mine_ids = [raw_id for raw_id in raw_ids if owners[raw_id] == me]
            # Others' copies only as far as the caller's access level for activities reaches.
            reach = caller.reach(Privilege.WRITE_ACTIVITIES)
            others = [raw_id for raw_id in raw_ids if uow.raw_messages.is_within(raw_id, reach)]
        allowed = mine_ids or others
        if not allowed:
            return None
        # A tracked copy first: that is the one the person acts on.
        traces = [self._explain.by_raw_id(raw_id) for raw_id in allowed]
        trace = next((t for t in traces if t.activity_id is not None), traces[0])
        detail = None
        if trace.activity_id and caller.can(Privilege.READ_ACTIVITIES):
            try:
                detail = self._queries.activity(trace.activity_id, caller)
            except NotFoundError:
                detail = None
        return OpenEmail(trace, detail)


def _item_ids(item_id: str) -> list[str]:
    """The item id as Outlook gives it (EWS form) and as REST and Graph write the same id:
    '/' and '+' become '-' and '_' (what Office.js ``convertToRestId`` does)."""
    rest = item_id.replace("/", "-").replace("+", "_")
    return sorted({item_id, rest})
