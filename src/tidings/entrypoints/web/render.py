"""Pages: Jinja2 templates rendered with the visitor, the navigation and flash messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from tidings import __version__
from tidings.domain.people import Privilege
from tidings.entrypoints.web.forms import RENAME_VIEW_FIELD, SAVE_VIEW_FIELD, shown_value
from tidings.entrypoints.web.help import help_link
from tidings.entrypoints.web.session import CSRF_FIELD, Visitor

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(
    version=__version__,
    csrf_field=CSRF_FIELD,
    Privilege=Privilege,
    shown_value=shown_value,
    save_field=SAVE_VIEW_FIELD,
    rename_field=RENAME_VIEW_FIELD,
)

#: The site map, D365's names; a link shows only to visitors who may open it.
NAVIGATION: list[tuple[str, str, Privilege | None]] = [
    ("Dashboard", "/", None),
    ("Activities", "/activities", Privilege.READ_ACTIVITIES),
    ("Mailboxes", "/mailboxes", Privilege.READ_MAILBOXES),
    ("Email Server Profiles", "/profiles", Privilege.READ_SERVER_PROFILES),
    ("Email Configuration", "/settings/email", Privilege.READ_SETTINGS),
    ("Users", "/users", Privilege.READ_USERS),
    ("Security Roles", "/roles", Privilege.READ_USERS),
    ("Business Units", "/business-units", Privilege.READ_USERS),
    ("Parked Email", "/parked", Privilege.READ_MAILBOXES),
    ("Personal Options", "/options", None),
    ("API Tokens", "/tokens", None),
]


#: What a page says after a form went through (``?done=<key>``): fixed texts, so a crafted
#: link cannot put words in the console's mouth.
NOTICES = {
    "approved": "Email addresses approved.",
    "tested": "Test & Enable finished; see each mailbox's results.",
    "approved-one": "The email address is approved.",
    "tested-enabled": "Test & Enable passed: the mailbox is enabled.",
    "tested-failed": "Test & Enable did not pass: see the results and alerts below.",
    "test-queued": "Test & Enable queued: a worker tests each mailbox shortly, and each "
    "mailbox shows its results once tested.",
    "test-queued-one": "Test & Enable queued: a worker tests this mailbox shortly; reload "
    "the page to see its results.",
    "disabled": "Disabled: server-side synchronization stopped until Test & Enable passes.",
    "replayed": "Parked email processed again.",
    "token-revoked": "The API token was revoked.",
    "saved": "Saved.",
    "created": "Created.",
    "deleted": "Deleted.",
    "tracked": "The email is tracked.",
    "untracked": "The email is no longer tracked.",
    "signed-out": "You are signed out.",
    "queued": "The email is queued for sending.",
}


def page(
    request: Request,
    template: str,
    visitor: Visitor | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    navigation = [
        (label, href)
        for label, href, needed in NAVIGATION
        if visitor is not None and (needed is None or visitor.can(needed))
    ]
    return templates.TemplateResponse(
        request,
        template,
        {
            "visitor": visitor,
            "navigation": navigation,
            "current": request.url.path,
            "help_link": help_link(request.url.path),
            "notice": NOTICES.get(request.query_params.get("done", "")),
            **context,
        },
        status_code=status_code,
    )
