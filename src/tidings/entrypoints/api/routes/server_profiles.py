"""Email server profiles; their passwords are write-only."""

from typing import Annotated

from fastapi import APIRouter, status

from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import HOST_BASED_KINDS, ServerProfileKind
from tidings.domain.testing import ConnectionCheck
from tidings.entrypoints.api.admin_schemas import (
    PROBLEMS,
    ConnectionCheckPublic,
    ConnectionTestIn,
    ConnectionTestPublic,
    CredentialsIn,
    PathId,
    ProfileKindPublic,
    ServerProfileCreate,
    ServerProfilePublic,
    ServerProfileUpdate,
)
from tidings.entrypoints.api.deps import TidingsDep, require
from tidings.services.profile_connection import TestLogin
from tidings.services.server_profiles import KIND_OPTIONS, ProfileSecret

router = APIRouter(prefix="/api/server-profiles", tags=["server profiles"], responses=PROBLEMS)

Reader = Annotated[Caller, require(Privilege.READ_SERVER_PROFILES)]
Writer = Annotated[Caller, require(Privilege.WRITE_SERVER_PROFILES)]


@router.get("", summary="List email server profiles")
def list_profiles(tidings: TidingsDep, caller: Reader) -> list[ServerProfilePublic]:
    return [ServerProfilePublic.of(v) for v in tidings.server_profiles.list_profiles(caller)]


@router.get("/kinds", summary="The kinds of profile and the options each reads")
def list_kinds(caller: Reader) -> list[ProfileKindPublic]:
    return [
        ProfileKindPublic(
            kind=kind, host_based=kind in HOST_BASED_KINDS, options=list(KIND_OPTIONS[kind])
        )
        for kind in ServerProfileKind
    ]


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an email server profile")
def create_profile(
    body: ServerProfileCreate, tidings: TidingsDep, caller: Writer
) -> ServerProfilePublic:
    """A connection without TLS needs ``allow_insecure``; the response lists warnings."""
    values = body.model_dump(exclude_unset=True, exclude={"credentials"})
    secret = _secret(body.credentials) if body.credentials else None
    return ServerProfilePublic.of(tidings.server_profiles.create(caller, values, secret))


@router.get("/{profile_id}", summary="Read one email server profile")
def get_profile(profile_id: PathId, tidings: TidingsDep, caller: Reader) -> ServerProfilePublic:
    return ServerProfilePublic.of(tidings.server_profiles.get(caller, profile_id))


@router.patch("/{profile_id}", summary="Change an email server profile")
def update_profile(
    profile_id: PathId, body: ServerProfileUpdate, tidings: TidingsDep, caller: Writer
) -> ServerProfilePublic:
    changes = body.model_dump(exclude_unset=True)
    return ServerProfilePublic.of(tidings.server_profiles.update(caller, profile_id, changes))


@router.put(
    "/{profile_id}/credentials",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set the profile's own user name and password",
)
def set_profile_credentials(
    profile_id: PathId, body: CredentialsIn, tidings: TidingsDep, caller: Writer
) -> None:
    """For profiles whose credentials are held by the profile; the password is kept
    encrypted and never returned."""
    tidings.server_profiles.set_credentials(caller, profile_id, _secret(body))


@router.delete(
    "/{profile_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an email server profile no mailbox uses",
)
def delete_profile(profile_id: PathId, tidings: TidingsDep, caller: Writer) -> None:
    tidings.server_profiles.delete(caller, profile_id)


@router.post(
    "/{profile_id}/test", summary="Test connection: log in to both servers, change nothing"
)
async def test_connection(
    profile_id: PathId, body: ConnectionTestIn, tidings: TidingsDep, caller: Writer
) -> ConnectionTestPublic:
    """Connects to the incoming and outgoing servers over the profile's security and logs in,
    as Test & Enable does, without recording anything on a mailbox."""
    login = TestLogin(body.mailbox_id, body.username or "", body.password or "")
    report = await tidings.mailboxes.test_profile(caller, profile_id, login)
    return ConnectionTestPublic(
        incoming=_check(report.incoming), outgoing=_check(report.outgoing),
        tried_as=report.tried_as,
    )  # fmt: skip


def _check(check: ConnectionCheck) -> ConnectionCheckPublic:
    return ConnectionCheckPublic(status=check.status.value, message=check.message)


def _secret(body: CredentialsIn) -> ProfileSecret:
    return ProfileSecret(body.username, body.password, body.direction)
