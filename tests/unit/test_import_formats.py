"""Reading import files row by row, whatever the chunk boundaries."""

from __future__ import annotations

import io
import json

import pytest

from tidings.domain.errors import ValidationError
from tidings.services.import_formats import ImportFormat, Row, read_rows


def test_json_objects_split_across_chunks_are_read_whole() -> None:
    # A tiny chunk size makes every object straddle several reads.
    rows = [{"name": f"Account {n}", "emails": [f"a{n}@x.example"]} for n in range(50)]
    source = io.BytesIO(json.dumps(rows, indent=2).encode())
    assert list(read_rows(source, ImportFormat.JSON, chunk=7)) == [
        Row(n + 1, row) for n, row in enumerate(rows)
    ]


def test_a_file_is_read_again_from_its_start() -> None:
    # Import reads twice: once to validate, once to write.
    source = io.BytesIO("\ufeffname\nA\n\nB\n".encode())
    first = list(read_rows(source, ImportFormat.CSV))
    assert first == [Row(1, {"name": "A"}), Row(3, {"name": "B"})]
    assert list(read_rows(source, ImportFormat.CSV)) == first


def test_text_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ValidationError, match="not UTF-8"):
        list(read_rows(io.BytesIO(b"name\nM\xfcller\n"), ImportFormat.CSV))


def test_an_unclosed_json_array_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"not closed with \]"):
        list(read_rows(io.BytesIO(b'[{"name": "A"}'), ImportFormat.JSON))
