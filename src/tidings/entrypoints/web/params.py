"""The numbers the console takes in URLs and forms, bounded as the API bounds them.

An id beyond the databases' integer range names no record: in a URL it is simply not found
(404), in a form it is a field error; it never reaches a query, where SQLite and PostgreSQL
would overflow.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Query
from pydantic import Field

#: The largest id SQLite's and PostgreSQL's INTEGER columns hold alike.
MAX_ID = 2**31 - 1

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
FormId = Annotated[int, Form(ge=1, le=MAX_ID)]
OptionalFormId = Annotated[int | None, Form(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
PageNumber = Annotated[int, Query(ge=1, le=MAX_ID)]
#: Several ids ticked in a list (``name=1&name=2``).
FormIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None, Form()]
