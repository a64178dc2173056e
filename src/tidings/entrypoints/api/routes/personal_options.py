"""Personal options and folder-level tracking rules: a user's own, or anyone's for an admin."""

from fastapi import APIRouter, Path

from tidings.domain.records import RecordRef
from tidings.entrypoints.api.admin_schemas import PROBLEMS, PathId
from tidings.entrypoints.api.deps import CallerDep, TidingsDep
from tidings.entrypoints.api.mailbox_schemas import FolderRuleIn, FolderRulePublic
from tidings.entrypoints.api.people_schemas import OptionsPublic, OptionsUpdate
from tidings.services.personal_options import FolderRuleInput

router = APIRouter(prefix="/api", tags=["personal options"], responses=PROBLEMS)


@router.get("/users/{user_id}/options", summary="Read a user's personal options")
def get_options(user_id: PathId, tidings: TidingsDep, caller: CallerDep) -> OptionsPublic:
    """Everyone may read their own; others need read_users."""
    return OptionsPublic.of(tidings.personal_options.get_options(caller, user_id))


@router.patch("/users/{user_id}/options", summary="Change a user's personal options")
def update_options(
    user_id: PathId, body: OptionsUpdate, tidings: TidingsDep, caller: CallerDep
) -> OptionsPublic:
    """*Track incoming email* and whether unknown senders become contacts; everyone may
    change their own, others' need write_users."""
    options = tidings.personal_options.update_options(
        caller,
        user_id,
        track_incoming=body.track_incoming,
        create_contacts_for_unknown_senders=body.create_contacts_for_unknown_senders,
    )
    return OptionsPublic.of(options)


@router.get("/mailboxes/{mailbox_id}/folder-rules", summary="Folders tracked besides the Inbox")
def list_folder_rules(
    mailbox_id: PathId, tidings: TidingsDep, caller: CallerDep
) -> list[FolderRulePublic]:
    rules = tidings.personal_options.folder_rules(caller, mailbox_id)
    return [FolderRulePublic.of(r) for r in rules]


@router.put("/mailboxes/{mailbox_id}/folder-rules", summary="Track exactly these folders")
def replace_folder_rules(
    mailbox_id: PathId, body: list[FolderRuleIn], tidings: TidingsDep, caller: CallerDep
) -> list[FolderRulePublic]:
    """At most 25 folders, the Inbox never among them; each may set a regarding record."""
    rules = [_input(r) for r in body]
    saved = tidings.personal_options.replace_folder_rules(caller, mailbox_id, rules)
    return [FolderRulePublic.of(r) for r in saved]


@router.post("/mailboxes/{mailbox_id}/folder-rules", summary="Track one more folder")
def add_folder_rule(
    mailbox_id: PathId, body: FolderRuleIn, tidings: TidingsDep, caller: CallerDep
) -> list[FolderRulePublic]:
    """The 26th folder is refused; a folder already tracked gets the new regarding record."""
    saved = tidings.personal_options.add_folder_rule(caller, mailbox_id, _input(body))
    return [FolderRulePublic.of(r) for r in saved]


@router.delete(
    "/mailboxes/{mailbox_id}/folder-rules/{folder:path}", summary="Stop tracking a folder"
)
def remove_folder_rule(
    mailbox_id: PathId,
    tidings: TidingsDep,
    caller: CallerDep,
    folder: str = Path(max_length=200),
) -> list[FolderRulePublic]:
    saved = tidings.personal_options.remove_folder_rule(caller, mailbox_id, folder)
    return [FolderRulePublic.of(r) for r in saved]


def _input(body: FolderRuleIn) -> FolderRuleInput:
    regarding = RecordRef.parse(body.regarding) if body.regarding else None
    return FolderRuleInput(body.folder, regarding)
