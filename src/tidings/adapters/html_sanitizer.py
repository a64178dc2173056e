"""Email HTML made safe to show, with nh3 (the ammonia sanitizer): an allow-list of tags,
attributes, URL schemes and CSS properties; everything else is dropped.

The console shows the result in a sandboxed frame under its own Content-Security-Policy, so
a mistake here still runs no script; this is the first of the two walls, not the only one.
"""

from __future__ import annotations

import nh3

from tidings.adapters.css_filter import safe_style
from tidings.domain.activity import SanitizedHtml

_TAGS = set(nh3.ALLOWED_TAGS) | {"font"}
_COMMON = {
    "align", "valign", "width", "height", "bgcolor", "color", "border", "cellpadding",
    "cellspacing", "colspan", "rowspan", "dir", "lang", "title", "style",
}  # fmt: skip
_ATTRIBUTES = {
    "*": _COMMON,
    "a": {"href"},
    "img": {"src", "alt"},
    "font": {"face", "size"},
    "td": {"nowrap"},
    "th": {"nowrap"},
    "ol": {"start", "type"},
}
#: Layout and typography only: nothing that positions over the page or loads a resource.
_STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style",
    "font-weight", "text-align", "text-decoration", "text-indent", "text-transform",
    "line-height", "letter-spacing", "white-space", "vertical-align", "width", "height",
    "max-width", "min-width", "margin", "margin-top", "margin-right", "margin-bottom",
    "margin-left", "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border", "border-top", "border-right", "border-bottom", "border-left", "border-color",
    "border-style", "border-width", "border-collapse", "border-spacing", "border-radius",
    "list-style-type", "display",
}  # fmt: skip
_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid", "data"}
_REMOTE = ("http:", "https:", "//")


class Nh3HtmlSanitizer:
    def clean(self, html: str, *, remote_images: bool) -> SanitizedHtml:
        blocked = 0

        def keep(tag: str, attribute: str, value: str) -> str | None:
            nonlocal blocked
            if attribute == "style":
                return safe_style(value, _STYLE_PROPERTIES)
            lowered = value.strip().lower()
            squeezed = "".join(lowered.split())
            if "javascript:" in squeezed or "vbscript:" in squeezed:
                return None  # not the scheme, so nh3 lets it by; no mail needs it anywhere
            if attribute == "src" and tag == "img":
                if lowered.startswith(_REMOTE) and not remote_images:
                    blocked += 1
                    return None
                if lowered.startswith("data:") and (
                    not lowered.startswith("data:image/") or lowered.startswith("data:image/svg")
                ):
                    return None
            if attribute == "href" and lowered.startswith(("data:", "cid:")):
                return None
            return value

        cleaned = nh3.clean(
            html,
            tags=_TAGS,
            clean_content_tags={"script", "style", "title", "noscript", "template"},
            attributes=_ATTRIBUTES,
            attribute_filter=keep,
            url_schemes=_URL_SCHEMES,
            filter_style_properties=_STYLE_PROPERTIES,
            set_tag_attribute_values={"a": {"target": "_blank"}},
            link_rel="noopener noreferrer",
            strip_comments=True,
        )
        return SanitizedHtml(cleaned, blocked)
