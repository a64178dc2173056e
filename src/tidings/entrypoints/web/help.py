"""The documentation inside the console: ``docs/`` rendered as pages under ``/help``, and
which page answers for which console page (the *Help* link in the top bar).

The pages are the same Markdown the documentation site is built from (``mkdocs build``), so
the console's help never drifts from it. Links between pages (``sync.md#sending``) and to
images (``images/…png``) are rewritten to ``/help/…``; headings get the ids the site gives
them, so the site's anchors work here too. The output goes through nh3 like every HTML the
console shows.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

import tidings

#: Page names: lower-case words with hyphens, one folder deep at most (server-profiles/gmail).
_PAGE = re.compile(r"^[a-z0-9-]{1,64}(/[a-z0-9-]{1,64})?$")
_IMAGE = re.compile(r"^images/[a-z0-9-]{1,64}\.png$")
_DOC_LINK = re.compile(r"^(?!/|[a-z]+:)([a-z0-9/._-]+)\.md(#[A-Za-z0-9_-]*)?$")

#: Console page (path prefix, longest first) → the doc page and section that explains it.
HELP_FOR = [
    ("/settings/email", "tracking-category#settings"),
    ("/activities", "concepts#how-an-email-is-decided"),
    ("/explain", "concepts#how-an-email-is-decided"),
    ("/emails", "writing-email#in-the-console"),
    ("/mailboxes/bulk", "console-grids#selecting-rows-and-bulk-actions"),
    ("/mailboxes/export.csv", "console-grids#export-to-csv"),
    ("/mailboxes", "sync"),
    ("/views", "console-grids#views"),
    ("/profiles", "server-profiles/exchange-online"),
    ("/users", "console"),
    ("/roles/", "security-model#the-access-levels"),
    ("/roles", "security"),
    ("/business-units", "security-model#business-units-and-queue-members"),
    ("/parked", "parked-email#seeing-parked-email"),
    ("/options", "tracking-category"),
    ("/tokens", "api"),
]

_ALLOWED_TAGS = {
    *("h1", "h2", "h3", "h4", "h5", "h6", "p", "a", "ul", "ol", "li", "strong", "em"),
    *("code", "pre", "blockquote", "table", "thead", "tbody", "tr", "th", "td", "img"),
    *("hr", "br", "del"),
}
_ALLOWED_ATTRIBUTES = {
    **{h: {"id"} for h in ("h1", "h2", "h3", "h4", "h5", "h6")},
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"style"},
    "td": {"style"},
    "code": {"class"},
}


def help_link(path: str) -> str:
    """The help page for a console path (the documentation's start page by default)."""
    for prefix, target in HELP_FOR:
        if path == prefix or path.startswith(prefix + "/"):
            return "/help/" + target
    return "/help"


def docs_dir() -> Path:
    """Where the Markdown is: packaged beside the code (a wheel), else the checkout's."""
    package = Path(tidings.__file__).parent
    for candidate in (package / "docs", package.parent.parent / "docs"):
        if (candidate / "index.md").is_file():
            return candidate
    return package / "docs"


@dataclass(frozen=True)
class HelpPage:
    title: str
    html: str


def page_file(name: str) -> Path | None:
    """The Markdown of a help page by name (``sync``, ``server-profiles/gmail``), if any."""
    if not _PAGE.match(name):
        return None
    found = docs_dir() / f"{name}.md"
    return found if found.is_file() else None


def image_file(name: str) -> Path | None:
    if not _IMAGE.match(name):
        return None
    found = docs_dir() / name
    return found if found.is_file() else None


@lru_cache(maxsize=64)
def _render(path: Path, name: str, modified: float) -> HelpPage:
    del modified  # part of the cache key only: an edited page renders anew
    tokens = _markdown().parse(path.read_text(encoding="utf-8"))
    title = name
    used: dict[str, int] = {}
    folder = name.rpartition("/")[0]
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            text = _text(tokens[index + 1])
            if token.tag == "h1" and title == name:
                title = text
            token.attrSet("id", _unique(slug(text), used))
        elif token.type == "inline" and token.children:
            for child in token.children:
                _rewrite(child, folder)
    html = _markdown().renderer.render(tokens, _markdown().options, {})
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"https", "http", "mailto"},
        link_rel="noopener noreferrer",
    )
    return HelpPage(title, clean)


def render(name: str) -> HelpPage | None:
    """A help page by name, rendered; None when there is no such page."""
    path = page_file(name)
    if path is None:
        return None
    return _render(path, name, path.stat().st_mtime)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")


def _text(inline: Token) -> str:
    return "".join(c.content for c in inline.children or () if c.type in ("text", "code_inline"))


def slug(text: str) -> str:
    """The id the documentation site gives a heading (Python-Markdown's ``toc`` slugify):
    accents dropped, punctuation removed, lower case, runs of spaces and hyphens as one
    hyphen."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    kept = re.sub(r"[^\w\s-]", "", ascii_text).strip().lower()
    return re.sub(r"[-\s]+", "-", kept)


def _unique(base: str, used: dict[str, int]) -> str:
    count = used.get(base, 0)
    used[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def _rewrite(token: Token, folder: str) -> None:
    """A link to another page or an image, as the console serves it."""
    attribute = "href" if token.type == "link_open" else "src" if token.type == "image" else ""
    if not attribute:
        return
    target = str(token.attrGet(attribute) or "")
    if token.type == "image" and not re.match(r"^[a-z]+:|^/", target):
        token.attrSet(attribute, "/help/" + _resolve(folder, target))
        return
    match = _DOC_LINK.match(target)
    if match is not None:
        page = _resolve(folder, match.group(1))
        page = "" if page == "index" else page
        token.attrSet(attribute, f"/help/{page}".rstrip("/") + (match.group(2) or ""))


def _resolve(folder: str, target: str) -> str:
    """A relative path from a page in ``folder``, as a name under docs/."""
    parts = [p for p in folder.split("/") if p]
    for part in target.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)
