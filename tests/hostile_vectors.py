"""The XSS vectors under tests/data/hostile_html/vectors/, one per line, and a check that
sanitized HTML holds nothing that could run or fetch."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

VECTORS_DIR = Path(__file__).parent / "data" / "hostile_html" / "vectors"


def load_vectors() -> list[tuple[str, str]]:
    """``(file:line, vector)`` for every non-empty line of every vector file."""
    found = []
    for path in sorted(VECTORS_DIR.glob("*.html")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                found.append((f"{path.stem}:{number}", line))
    return found


_ACTIVE_TAGS = {
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "svg", "math",
    "form", "input", "button", "textarea", "select", "base", "link", "meta", "template",
    "noscript", "xmp", "plaintext", "noembed", "noframes", "applet", "isindex", "body",
    "html", "head", "title", "video", "audio", "source", "marquee", "bgsound",
}  # fmt: skip
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "background", "dynsrc", "lowsrc"}
_CSS_NEVER = re.compile(
    r"url\s*\(|expression|behavior|binding|@import|javascript|\\|/\*|image-set|var\s*\(", re.I
)


class _Findings(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _ACTIVE_TAGS or ":" in tag:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            squeezed = re.sub(r"[\x00-\x20]", "", value).lower()
            if name.startswith("on") or ":" in name:
                self.problems.append(f"{tag} {name}=")
            elif name in _URL_ATTRIBUTES and not squeezed.startswith(
                ("http:", "https:", "mailto:", "tel:", "cid:", "data:image/", "#")
            ):
                if ":" in squeezed.split("/", 1)[0]:
                    self.problems.append(f"{tag} {name}={value!r}")
            elif name == "style" and _CSS_NEVER.search(value):
                self.problems.append(f"{tag} style={value!r}")
            if name in _URL_ATTRIBUTES and "attacker.example" in squeezed:
                self.problems.append(f"{tag} {name} reaches {value!r}")
            if name == "src" and squeezed.startswith("data:image/svg"):
                self.problems.append(f"{tag} src is an SVG document")


def active_parts(html: str) -> list[str]:
    """What in sanitized ``html`` could run script, fetch, or escape the sanitizer."""
    findings = _Findings()
    findings.feed(html)
    findings.close()
    return findings.problems
