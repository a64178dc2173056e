"""Settings › Email configuration."""

from typing import Annotated

from fastapi import APIRouter

from tidings.domain.people import Caller, Privilege
from tidings.entrypoints.api.admin_schemas import (
    PROBLEMS,
    EmailConfigurationPublic,
    EmailConfigurationUpdate,
)
from tidings.entrypoints.api.deps import TidingsDep, require

router = APIRouter(prefix="/api/settings/email", tags=["settings"], responses=PROBLEMS)


@router.get("", summary="Read the email configuration settings")
def get_email_settings(
    tidings: TidingsDep, caller: Annotated[Caller, require(Privilege.READ_SETTINGS)]
) -> EmailConfigurationPublic:
    """Organization-wide: server-side synchronization, default sync methods, correlation,
    attachments and folder-level tracking."""
    return EmailConfigurationPublic.of(tidings.email_settings.get(caller))


@router.patch("", summary="Change email configuration settings")
def update_email_settings(
    body: EmailConfigurationUpdate,
    tidings: TidingsDep,
    caller: Annotated[Caller, require(Privilege.WRITE_SETTINGS)],
) -> EmailConfigurationPublic:
    """Only the fields given change; nothing is saved if any value is refused."""
    changes = body.model_dump(exclude_unset=True)
    return EmailConfigurationPublic.of(tidings.email_settings.update(caller, changes))
