"""Help inside the console: every page of the documentation site is served under /help, its
links and anchors lead somewhere real, and each console page's Help link opens the section
that explains it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urldefrag

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.builders import Org
from tests.integration.test_console import BASE, signed_in_admin
from tidings.entrypoints.api.app import create_app
from tidings.entrypoints.web.help import HELP_FOR, slug

ROOT = Path(__file__).parents[2]


def _nav_pages(nav: list[object]) -> Iterator[str]:
    for entry in nav:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            if isinstance(value, list):
                yield from _nav_pages(value)
            elif isinstance(value, str):
                yield value.removesuffix(".md")


NAV = sorted(_nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]))


@pytest.fixture
def client(org: Org) -> TestClient:
    return signed_in_admin(org)


def _ids(html: str) -> set[str]:
    return set(re.findall(r' id="([^"]+)"', html))


def test_every_page_of_the_site_is_served_and_its_links_and_anchors_lead_somewhere(
    client: TestClient,
) -> None:
    pages = {name: client.get(f"/help/{name}") for name in NAV}
    assert {name: answer.status_code for name, answer in pages.items()} == dict.fromkeys(NAV, 200)
    checked = 0
    for name, answer in pages.items():
        title = (ROOT / "docs" / f"{name}.md").read_text().splitlines()[0].lstrip("# ")
        assert f"<title>{title} · Tidings</title>" in answer.text.replace("&#34;", '"')
        for href in re.findall(r'href="(/help[^"]*)"', answer.text):
            target, anchor = urldefrag(href)
            linked = client.get(target)
            assert linked.status_code == 200, f"{name} links to {href}"
            if anchor:
                assert anchor in _ids(linked.text), f"{name} links to {href}: no such section"
            checked += 1
        for src in re.findall(r'<img src="([^"]+)"', answer.text):
            image = client.get(src)
            assert (image.status_code, image.headers["content-type"]) == (200, "image/png")
    assert checked > 20  # the pages do link to each other


def test_each_console_page_links_to_the_section_that_explains_it(client: TestClient) -> None:
    for _prefix, target in HELP_FOR:
        page, _, anchor = target.partition("#")
        answer = client.get(f"/help/{page}")
        assert answer.status_code == 200, target
        assert not anchor or anchor in _ids(answer.text), target
    mailboxes = client.get("/mailboxes").text
    assert '<a class="help-link" href="/help/sync">Help</a>' in mailboxes
    assert '<a class="help-link" href="/help">Help</a>' in client.get("/").text


def test_headings_get_the_ids_the_documentation_site_gives_them() -> None:
    # Python-Markdown's toc: accents dropped, punctuation removed, spaces as hyphens.
    assert slug("Sending, exactly once") == "sending-exactly-once"
    assert slug('The "Tracked" category — Gmail\'s label') == "the-tracked-category-gmails-label"
    assert slug("Café  résumé") == "cafe-resume"


@pytest.mark.parametrize(
    "path",
    [
        "/help/../pyproject",
        "/help/%2e%2e/%2e%2e/pyproject",
        "/help/images/../../README.md",
        "/help/images/console-activity.PNG",
        "/help/no-such-page",
        "/help/server-profiles/gmail/../../../pyproject",
        "/help/" + "a" * 5000,
    ],
)
def test_nothing_but_documentation_pages_is_served(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert "[project]" not in answer.text


def test_help_is_for_signed_in_visitors(org: Org) -> None:
    anonymous = TestClient(create_app(org.tidings), base_url=BASE)
    answer = anonymous.get("/help/sync", follow_redirects=False)
    assert answer.status_code in (302, 303)
    assert answer.headers["location"].startswith("/signin")
