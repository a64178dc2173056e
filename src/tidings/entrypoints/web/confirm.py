"""A confirm step before a destructive action, without script: the first post of the form
answers with a page asking "are you sure?", whose button posts the same fields again with
``confirmed=yes``; only then does the action run."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import CSRF_FIELD, Visitor

CONFIRMED_FIELD = "confirmed"


async def ask_first(
    request: Request, visitor: Visitor, *, question: str, verb: str, back: str
) -> HTMLResponse | None:
    """The confirm page, unless this post already answered it (then ``None``: go ahead).

    ``question`` and ``verb`` are the console's own words; what the form carried is posted
    again as it came, escaped by the template.
    """
    form = await request.form()
    if form.get(CONFIRMED_FIELD) == "yes":
        return None
    fields = [
        (name, value)
        for name, value in form.multi_items()
        if isinstance(value, str) and name not in (CSRF_FIELD, CONFIRMED_FIELD)
    ]
    return page(
        request, "confirm.html", visitor, question=question, verb=verb,
        action=request.url.path, fields=fields, back=back,
    )  # fmt: skip
