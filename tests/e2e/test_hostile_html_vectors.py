"""Every XSS vector of tests/data/hostile_html/vectors/, sanitized, opened in Chromium with
script allowed: the sanitizer alone, without the console's sandbox and Content-Security-
Policy, lets no script run and nothing be fetched.

Each sanitized vector is the ``srcdoc`` of a frame of its own; a script that ran would set
``window.__pwned`` in it (the vectors' payload) or open a dialog. A control frame, left
unsanitized, shows that a vector that did run would be seen.
"""

from __future__ import annotations

import html
import json

from playwright.sync_api import Page, Route

from tests.hostile_vectors import load_vectors
from tidings.adapters.html_sanitizer import Nh3HtmlSanitizer

CONTROL = '<img src="data:," onerror="window.__pwned=1">'
#: Events a reader's pointer and keyboard would fire, fired at every element.
PROVOKE = """() => {
  for (const element of document.querySelectorAll('*')) {
    for (const name of ['mouseover', 'mouseenter', 'focus', 'toggle', 'animationstart']) {
      element.dispatchEvent(new Event(name));
    }
  }
  return document.readyState;
}"""


def test_no_sanitized_vector_runs_script_or_fetches_in_chromium(page: Page) -> None:
    vectors = load_vectors()
    sanitizer = Nh3HtmlSanitizer()
    frames = [
        (where, sanitizer.clean(vector, remote_images=False).html) for where, vector in vectors
    ]
    frames.append(("control", CONTROL))
    requested: list[str] = []
    dialogs: list[str] = []

    def refuse(route: Route) -> None:
        requested.append(route.request.url)
        route.abort()

    page.route("**/*", refuse)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_content(
        "".join(
            f'<iframe name="{html.escape(where)}" srcdoc="{html.escape(body)}"></iframe>'
            for where, body in frames
        ),
        wait_until="load",
    )

    assert len(page.frames) == len(frames) + 1
    ran = []
    for frame in page.frames[1:]:
        assert frame.evaluate(PROVOKE) == "complete"
        if frame.evaluate("window.__pwned !== undefined"):
            ran.append(frame.name)
    assert page.evaluate("window.__pwned === undefined")
    assert ran == ["control"], json.dumps(dict(frames))[:2000]
    assert dialogs == []
    assert requested == []
