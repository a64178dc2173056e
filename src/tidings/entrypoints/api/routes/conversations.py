"""Conversations: the activities of one thread, oldest first."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from tidings.domain.people import Privilege
from tidings.entrypoints.api.deps import CallerDep, TidingsDep, require
from tidings.entrypoints.api.schemas import ActivitySummaryPublic, ConversationPublic

#: A conversation id: 32 lowercase hex digits (``domain.conversation``).
CONVERSATION_ID = r"^[0-9a-f]{32}$"

router = APIRouter(
    prefix="/api/conversations",
    tags=["activities"],
    dependencies=[require(Privilege.READ_ACTIVITIES)],
)


@router.get("/{conversation_id}", response_model=ConversationPublic)
def get_conversation(
    conversation_id: Annotated[str, Path(pattern=CONVERSATION_ID)],
    tidings: TidingsDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ConversationPublic:
    """The activities of one conversation, oldest first."""
    page = tidings.queries.conversation(conversation_id, limit, offset, caller)
    return ConversationPublic(
        conversation_id=conversation_id,
        items=[ActivitySummaryPublic.of(a, page.names) for a in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )
