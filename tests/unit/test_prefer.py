"""RFC 7240: a client may send several Prefer headers, each with several preferences, any
with a value or parameters; names are case-insensitive."""

from __future__ import annotations

import pytest

from tidings.entrypoints.api.prefer import RESPOND_ASYNC, prefers


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], False),
        (["respond-async"], True),
        (["Respond-Async"], True),
        (["return=minimal, respond-async; x=1"], True),
        (["return=minimal", "wait=10,respond-async"], True),
        (["respond-asynchronously"], False),
        (["return=respond-async"], False),
    ],
)
def test_the_preference_is_read_from_any_prefer_header(headers: list[str], expected: bool) -> None:
    assert prefers(headers, RESPOND_ASYNC) is expected
