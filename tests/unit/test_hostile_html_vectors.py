"""The sanitizer against public XSS vectors: OWASP's filter evasion cheat sheet, mutation
XSS, SVG and MathML namespace confusion, and CSS that runs or fetches.

Each vector is sanitized alone; what comes out is read back with an HTML parser and must
hold no element that runs or embeds, no event handler, no script or data URL, and no style
that can run or fetch. (``tests/e2e/test_hostile_html_vectors.py`` opens the same output in
Chromium.)
"""

from __future__ import annotations

import pytest

from tests.hostile_vectors import active_parts, load_vectors
from tidings.adapters.css_filter import safe_style
from tidings.adapters.html_sanitizer import Nh3HtmlSanitizer

VECTORS = load_vectors()
SANITIZER = Nh3HtmlSanitizer()
ALLOWED = frozenset({"color", "width", "background-color", "font-family", "border"})


def test_the_vector_corpus_covers_each_family() -> None:
    # OWASP, mXSS, namespace confusion and CSS, well over a hundred vectors in all.
    families = {where.split(":")[0] for where, _ in VECTORS}
    assert families == {"css_execution", "mxss", "namespace_confusion", "owasp_filter_evasion"}
    assert len(VECTORS) > 140


@pytest.mark.parametrize(("where", "vector"), VECTORS, ids=[w for w, _ in VECTORS])
def test_a_sanitized_vector_keeps_nothing_that_runs_or_fetches(where: str, vector: str) -> None:
    cleaned = SANITIZER.clean(vector, remote_images=True).html

    assert active_parts(cleaned) == [], cleaned


@pytest.mark.parametrize(
    "style",
    [
        "width: expression(alert(1))",
        "width: \\65xpression(alert(1))",
        "width: exp/**/ression(alert(1))",
        "background-color: url(javascript:alert(1))",
        "background-color: URL (http://x.example/a.png)",
        "background-color: u\\72l(http://x.example/a.png)",
        "behavior: url(x.htc)",
        "-moz-binding: url(http://x.example/b.xml#x)",
        "@import 'http://x.example/c.css'",
        "color: var(--x)",
        "font-family: '\\'",
    ],
)
def test_css_that_could_run_or_fetch_is_dropped_declaration_by_declaration(style: str) -> None:
    kept = safe_style(f"color: blue; {style}", ALLOWED)

    assert kept == "color:blue"


def test_plain_css_is_kept_as_written() -> None:
    style = "color: rgb(1, 2, 3); width: calc(100% - 2px); border: 1px solid #ccc"

    assert safe_style(style, ALLOWED) == (
        "color:rgb(1, 2, 3);width:calc(100% - 2px);border:1px solid #ccc"
    )
