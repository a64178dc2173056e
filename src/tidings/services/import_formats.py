"""Reading imported records one row at a time, so that a large file is never held whole.

CSV: a header line of field names, then one record per line (UTF-8, a BOM is allowed).
JSON: an array of objects, or JSON Lines (one object per line); both are read by the same
incremental decoder, which keeps only the object being read in memory.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from tidings.domain.errors import ValidationError

_CHUNK = 64 * 1024
#: One record larger than this is refused rather than buffered without end.
MAX_ROW_CHARS = 1024 * 1024


class ImportFormat(enum.StrEnum):
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True)
class Row:
    """One record of the file: its number (the first record is 1) and its fields, or what
    is wrong with it when it cannot even be read as fields."""

    number: int
    fields: dict[str, object]
    problem: str | None = None


def read_rows(source: IO[bytes], fmt: ImportFormat, *, chunk: int = _CHUNK) -> Iterator[Row]:
    """The rows of ``source`` from its start, JSON read ``chunk`` characters at a time."""
    source.seek(0)
    text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
    try:
        yield from (_csv_rows(text) if fmt is ImportFormat.CSV else _json_rows(text, chunk))
    except UnicodeDecodeError as error:
        raise ValidationError(f"the file is not UTF-8 text: {error.reason}") from None
    finally:
        text.detach()


def _csv_rows(text: IO[str]) -> Iterator[Row]:
    reader = csv.reader(text)
    try:
        header = next(reader, None)
        if header is None:
            return
        names = [name.strip() for name in header]
        if "" in names or len(set(names)) != len(names):
            raise ValidationError("the header line needs one distinct name per column")
        for number, cells in enumerate(reader, start=1):
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(names):
                yield Row(number, {}, f"{len(cells)} cells but {len(names)} columns")
                continue
            yield Row(number, dict(zip(names, cells, strict=False)))
    except csv.Error as error:
        raise ValidationError(f"CSV line {reader.line_num}: {error}") from None


def _json_rows(text: IO[str], chunk_size: int) -> Iterator[Row]:
    decoder = json.JSONDecoder()
    buffer, position, number = "", 0, 0
    started = ended = False
    eof = False
    while True:
        buffer = buffer[position:]
        position = 0
        # Skip what lies between objects: whitespace, the array's brackets, commas.
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n,":
                position += 1
            if position < len(buffer) and buffer[position] == "[" and not started:
                started, position = True, position + 1
                continue
            if position < len(buffer) and buffer[position] == "]" and started and not ended:
                ended, position = True, position + 1
                continue
            break
        if position >= len(buffer):
            if eof and started and not ended:
                raise ValidationError("the JSON array is not closed with ]")
            if eof:
                return
            chunk = text.read(chunk_size)
            eof = not chunk
            buffer, position = buffer[position:] + chunk, 0
            continue
        if ended:
            raise ValidationError("the file has data after the end of its JSON array")
        try:
            value, end = decoder.raw_decode(buffer, position)
        except json.JSONDecodeError as error:
            if eof:
                raise ValidationError(f"record {number + 1}: not valid JSON: {error.msg}") from None
            if len(buffer) - position > MAX_ROW_CHARS:
                raise ValidationError(f"record {number + 1} is larger than 1 MiB") from None
            chunk = text.read(chunk_size)
            eof = not chunk
            buffer += chunk
            continue
        if end == len(buffer) and not eof and not isinstance(value, dict | list):
            # A number or literal may go on in the next chunk; read more before trusting it.
            chunk = text.read(chunk_size)
            eof = not chunk
            buffer += chunk
            continue
        number += 1
        position = end
        if isinstance(value, dict):
            yield Row(number, value)
        else:
            yield Row(number, {}, "expected an object of field names and values")
