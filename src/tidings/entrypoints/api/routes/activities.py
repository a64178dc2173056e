"""Email activities: list with filters, and one with parties, attachments and its trace."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from tidings.domain.activity import ActivityStatus, Direction
from tidings.domain.grid import ACTIVITY_COLUMNS, ACTIVITY_DEFAULT_SORT, DateRange, parse_sort
from tidings.domain.people import Privilege
from tidings.domain.records import RecordRef
from tidings.domain.stored import ActivityFilter
from tidings.entrypoints.api.deps import CallerDep, TidingsDep, require
from tidings.entrypoints.api.routes.conversations import CONVERSATION_ID
from tidings.entrypoints.api.schemas import ActivityPage, ActivityPublic, ActivitySummaryPublic
from tidings.entrypoints.web.downloads import download

#: Query text: anything but control characters, which no stored address holds.
TEXT = r"^[^\x00-\x1f\x7f]*$"

router = APIRouter(
    prefix="/api/activities", tags=["activities"], dependencies=[require(Privilege.READ_ACTIVITIES)]
)


def _ref(value: str | None, name: str) -> RecordRef | None:
    if value is None:
        return None
    try:
        return RecordRef.parse(value)
    except ValueError as error:
        raise HTTPException(422, f"{name}: {error}") from error


@router.get("", response_model=ActivityPage)
def list_activities(
    tidings: TidingsDep,
    caller: CallerDep,
    mailbox: Annotated[str | None, Query(pattern=TEXT, description="Mailbox address")] = None,
    party: Annotated[
        str | None, Query(pattern=TEXT, description="KIND:ID of a party, or an address")
    ] = None,
    regarding: Annotated[
        str | None, Query(pattern=TEXT, description="KIND:ID of the regarding record")
    ] = None,
    conversation_id: Annotated[
        str | None, Query(pattern=CONVERSATION_ID, description="Only this conversation's")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=200, pattern=TEXT, description="Words in subject or party")
    ] = None,
    direction: Direction | None = None,
    status: ActivityStatus | None = None,
    owner: Annotated[str | None, Query(pattern=TEXT, description="KIND:ID of the owner")] = None,
    received_from: Annotated[date | None, Query(description="First day received")] = None,
    received_to: Annotated[date | None, Query(description="Last day received")] = None,
    sort: Annotated[
        str, Query(description=f"A column, - first for descending: {', '.join(ACTIVITY_COLUMNS)}")
    ] = ACTIVITY_DEFAULT_SORT.token,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ActivityPage:
    """Tracked email, newest first unless ``sort`` says otherwise; ``total`` counts every
    page."""
    chosen, problem = parse_sort(sort, ACTIVITY_COLUMNS, ACTIVITY_DEFAULT_SORT)
    if problem:
        columns = ", ".join(ACTIVITY_COLUMNS)
        raise HTTPException(422, f"sort: unknown column; choose one of {columns}")
    mailbox_id = tidings.queries.mailbox_by_address(mailbox, caller).id if mailbox else None
    party_ref = _ref(party, "party") if party and "@" not in party else None
    query = ActivityFilter(
        mailbox_id=mailbox_id,
        party=party_ref,
        party_address=party if party and "@" in party else None,
        regarding=_ref(regarding, "regarding"),
        conversation_id=conversation_id,
        text=q,
        direction=direction,
        status=status,
        owner=_ref(owner, "owner"),
        received=DateRange(received_from, received_to),
        sort=chosen,
        limit=limit,
        offset=offset,
    )
    page = tidings.queries.activities(query, caller)
    return ActivityPage(
        items=[ActivitySummaryPublic.of(a, page.names) for a in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.get("/{activity_id}", response_model=ActivityPublic)
def get_activity(
    activity_id: Annotated[int, Path(ge=1, le=2**31 - 1)], tidings: TidingsDep, caller: CallerDep
) -> ActivityPublic:
    """One activity with its parties, attachments and why it was tracked."""
    return ActivityPublic.of_detail(tidings.queries.activity(activity_id, caller))


@router.get(
    "/{activity_id}/attachments/{number}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file"},
        403: {"description": "Blocked by the email configuration settings (the reason)"},
        404: {"description": "No such activity or attachment"},
    },
)
def get_attachment(
    activity_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    number: Annotated[int, Path(ge=1, le=2**31 - 1, description="From 1, as listed")],
    tidings: TidingsDep,
    caller: CallerDep,
) -> Response:
    """An attachment's content, as a download; a blocked one is never served."""
    found = tidings.queries.attachment(activity_id, number, caller)
    assert found.content is not None  # noqa: S101 - attachment() serves only kept content
    return download(found.content, found.filename, found.content_type)
