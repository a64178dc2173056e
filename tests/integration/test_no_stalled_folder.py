"""No single email stalls a folder: huge email is tracked, failing email parks alone.

An email may name more addresses or Message-IDs than a database binds in one statement
(PostgreSQL 65,535 parameters; SQLite 32,766, or 999 in builds before 3.32 — the tests set
SQLite to 999 to hold Tidings to the strictest). Every lookup is chunked, so such email is
tracked like any other. An email the database genuinely refuses is found by halving its
batch and parked with its error in one line; every other email of the batch is tracked.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, event, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.builders import Org, make_email
from tests.conftest import settings_for
from tidings.adapters.storage import tables
from tidings.bootstrap import Tidings, bootstrap
from tidings.domain.activity import CorrelationMethod
from tidings.domain.errors import StorageError
from tidings.domain.message import MessageOrigin
from tidings.domain.mime_bounds import MAX_PARTS
from tidings.domain.records import Account, RecordKind
from tidings.domain.stored import NewRaw
from tidings.domain.tracking import Outcome
from tidings.services.tracking.results import IngestResult

#: SQLite's limit on bound variables before 3.32: the strictest Tidings must live with.
OLD_SQLITE_VARIABLES = 999


@pytest.fixture(autouse=True)
def strict_sqlite(tidings: Tidings) -> Iterator[None]:
    """SQLite connections bind at most 999 variables, as builds before 3.32 do."""
    if tidings.engine.dialect.name != "sqlite":
        yield
        return

    def limit(dbapi_connection: Any, _record: object, _proxy: object) -> None:
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, OLD_SQLITE_VARIABLES)

    dialect = tidings.engine.dialect
    default = dialect.insertmanyvalues_max_parameters
    # What make_engine reads from such a build: bulk inserts with RETURNING page below it.
    dialect.insertmanyvalues_max_parameters = OLD_SQLITE_VARIABLES
    event.listen(tidings.engine, "checkout", limit)
    yield
    event.remove(tidings.engine, "checkout", limit)
    dialect.insertmanyvalues_max_parameters = default


def _raw(*headers: bytes, body: bytes = b"Hello Dana,\r\n\r\nsee below.\r\n") -> bytes:
    """An email written by hand: headers far beyond what a mail client writes are built
    faster than through ``EmailMessage``, which parses every address it is given."""
    return b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def _folded(name: bytes, items: list[bytes], separator: bytes = b", ") -> bytes:
    """A header carrying ``items``, folded ten to a line (RFC 5322 §2.2.3)."""
    lines = [separator.join(items[i : i + 10]) for i in range(0, len(items), 10)]
    return name + b": " + (separator.rstrip() + b"\r\n ").join(lines)


def _common(message_id: str, subject: str = "Seats") -> list[bytes]:
    return [
        b"From: Maria Garcia <maria@contoso.example>",
        b"Subject: " + subject.encode(),
        b"Date: Thu, 19 Nov 2026 10:30:00 +0000",
        b"Message-ID: " + message_id.encode(),
        b"MIME-Version: 1.0",
        b"Content-Type: text/plain; charset=utf-8",
    ]


def _ingest(org: Org, emails: list[bytes], folder: str = "INBOX") -> list[IngestResult]:
    """``emails`` as one batch through the ingest path a sync uses, as new UIDs."""
    batch = []
    for raw in emails:
        org._uid += 1
        batch.append((raw, MessageOrigin(org.mailboxes["dana"], folder, 1, str(org._uid))))
    return org.tidings.ingest.ingest_batch(batch)


def _count(org: Org, table: Any, *where: Any) -> int:
    with org.tidings.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar())


def _ordinary(number: int) -> bytes:
    return make_email(subject=f"Ordinary {number}", message_id=f"<ordinary-{number}@contoso>")


def _assert_short(error: str) -> None:
    """An error as people read it: no statement, no parameters, a line or a few."""
    assert "[SQL" not in error, error[:500]
    assert "[parameters" not in error, error[:500]
    assert "INSERT INTO" not in error and "SELECT " not in error, error[:500]


# --- More values than one statement binds -------------------------------------------------


def test_an_email_to_seventy_thousand_addresses_is_tracked_with_the_email_around_it(
    org: Org,
) -> None:
    # A list mail to 70,000 addresses (more than PostgreSQL's 65,535 parameters) is tracked,
    # its known recipients resolved, and the email before and after it too.
    strangers = [b"r%d@list.example" % i for i in range(70_000)]
    to = [*strangers[:35_000], b"dana@northwind.example", b"tom@contoso.example"]
    to += strangers[35_000:]
    huge = _raw(*_common("<seventy-thousand@contoso>", "To everyone"), _folded(b"To", to))

    results = _ingest(org, [_ordinary(1), huge, _ordinary(2)])

    assert [r.outcome for r in results] == [Outcome.TRACKED] * 3, [r.summary for r in results]
    activity_id = results[1].activity_id
    p = tables.activity_parties.c
    assert _count(org, tables.activity_parties, p.activity_id == activity_id) == 70_000 + 4
    with org.tidings.engine.connect() as conn:
        tom = conn.execute(
            select(p.party_kind, p.party_id).where(
                p.activity_id == activity_id, p.address == "tom@contoso.example"
            )
        ).one()
    assert (tom.party_kind, tom.party_id) == ("contact", org.records["tom"].id)
    assert org.tidings.queries.parked() == []


def test_a_reply_with_ten_thousand_references_is_correlated_through_the_one_it_knows(
    org: Org,
) -> None:
    # A thread 10,000 messages deep: its References are kept bounded, first and last ones
    # (RFC 5322 §3.6.4), and the thread's root among them, the one tracked email, gives
    # the reply its regarding record.
    org.add_folder_rule("dana", "Deals", org.records["deal"])
    first = _ingest(org, [make_email(message_id="<root@contoso>")], folder="Deals")[0]
    assert first.outcome is Outcome.TRACKED
    references = [b"<ref-%d@elsewhere.example>" % i for i in range(10_000)]
    references[0] = b"<root@contoso>"
    reply = _raw(
        *_common("<deep-reply@contoso>", "Re: Seats"),
        b"To: dana@northwind.example",
        b"In-Reply-To: <ref-9999@elsewhere.example>",
        _folded(b"References", references, b" "),
    )

    (result,) = _ingest(org, [reply])

    assert result.outcome is Outcome.TRACKED, result.summary
    activity = org.tidings.queries.activity(result.activity_id).activity
    assert (activity.correlation, activity.regarding) == (
        CorrelationMethod.IN_REPLY_TO,
        org.records["deal"],
    )


def test_smart_matching_counts_shared_recipients_across_more_addresses_than_one_statement_binds(
    org: Org,
) -> None:
    # Smart matching's shared-recipient count holds when an email names 2,500 addresses.
    org.configure(use_smart_matching=True)
    org.add_folder_rule("dana", "Deals", org.records["deal"])
    crowd = [b"guest%d@party.example" % i for i in range(2_500)]
    first = _raw(
        *_common("<invite@contoso>", "Launch party"),
        _folded(b"To", [b"dana@northwind.example", *crowd]),
    )
    later = _raw(
        *_common("<invite-again@contoso>", "Launch party"),
        _folded(b"To", [b"dana@northwind.example", *reversed(crowd)]),
    )

    assert _ingest(org, [first], folder="Deals")[0].outcome is Outcome.TRACKED
    (result,) = _ingest(org, [later])

    assert result.outcome is Outcome.TRACKED, result.summary
    activity = org.tidings.queries.activity(result.activity_id).activity
    assert (activity.correlation, activity.regarding) == (
        CorrelationMethod.SMART_MATCHING,
        org.records["deal"],
    )


def test_a_mail_loop_of_five_thousand_received_headers_and_an_email_with_two_thousand_attachments_are_tracked(
    org: Org,
) -> None:
    # RFC 5321 §6.3 loops pile up Received headers; some mailers send thousands of parts.
    received = [
        b"Received: from relay%d.example by relay%d.example; Thu, 19 Nov 2026 10:30:00 +0000"
        % (i, i + 1)
        for i in range(5_000)
    ]
    looped = _raw(*received, *_common("<looped@contoso>"), b"To: dana@northwind.example")
    attachments = [(f"page-{i}.txt", b"page %d" % i, "text/plain") for i in range(2_000)]
    parts = make_email(message_id="<many-parts@contoso>", attachments=attachments)

    results = _ingest(org, [looped, parts])

    assert [r.outcome for r in results] == [Outcome.TRACKED] * 2, [r.summary for r in results]
    # Parts beyond what the parser reads are cut, with a note on the activity saying so.
    a = tables.attachments.c
    mine = a.activity_id == results[1].activity_id
    assert _count(org, tables.attachments, mine) == MAX_PARTS
    assert _count(org, tables.attachments, mine & (a.filename == "(parts not read)")) == 1


def test_three_thousand_records_with_their_addresses_are_added_in_bounded_statements(
    org: Org,
) -> None:
    # A bulk insert that returns the new ids, and the address index beside it, stay within
    # every database's parameter limit however many records come at once.
    accounts = [Account(f"Account {n}", (f"info{n}@a{n}.example",)) for n in range(3_000)]
    with org.tidings.uow() as uow:
        uow.records.add_many(accounts)
        uow.commit()
    ids = [a.id for a in accounts]
    assert None not in ids and len(set(ids)) == 3_000
    with org.tidings.uow() as uow:
        found = uow.records.ids_by_address(
            RecordKind.ACCOUNT, [f"info{n}@a{n}.example" for n in range(3_000)]
        )
    assert found == {f"info{n}@a{n}.example": accounts[n].id for n in range(3_000)}


# --- An email the database refuses ---------------------------------------------------------

#: A Date the parser reads, 14 hours before the end of year 9999 in UTC+14's west: in UTC it
#: is year 10000, which no timestamp holds.
_FAR_DATE = b"Date: Fri, 31 Dec 9999 23:59:59 -1400"


def _far_dated(number: int) -> bytes:
    raw = make_email(subject="Far future", message_id=f"<far-{number}@contoso>")
    return raw.replace(b"Date: Thu, 19 Nov 2026 10:30:00 +0000", _FAR_DATE)


def test_an_email_the_database_cannot_store_parks_alone_and_the_rest_of_its_batch_is_tracked(
    org: Org,
) -> None:
    # Halving the batch finds the one email whose Date no database stores; it parks with its
    # error in one line, and the eleven around it are tracked in order.
    emails = [_ordinary(n) for n in range(12)]
    emails[7] = _far_dated(7)

    results = _ingest(org, emails)

    outcomes = [r.outcome for r in results]
    assert outcomes == [Outcome.TRACKED] * 7 + [Outcome.PARKED] + [Outcome.TRACKED] * 4
    bad = results[7]
    assert "date value out of range" in bad.summary
    _assert_short(bad.summary)
    (parked,) = org.tidings.queries.parked()
    assert parked.raw_message_id == bad.raw_message_id
    first_line = parked.error.splitlines()[0]
    assert "date value out of range" in first_line
    _assert_short(parked.error)
    tracked = [r.activity_id for r in results if r.outcome is Outcome.TRACKED]
    assert tracked == sorted(tracked)  # recorded in the order they came


def test_two_refused_emails_in_one_batch_each_park_and_replay_parks_them_again(org: Org) -> None:
    # Two failing emails far apart in a batch of 30 are both found; replay tries again and,
    # the cause being in the email itself, parks them again with another attempt counted.
    emails = [_ordinary(n) for n in range(30)]
    emails[3] = _far_dated(3)
    emails[26] = _far_dated(26)

    results = _ingest(org, emails)

    parked_at = [i for i, r in enumerate(results) if r.outcome is Outcome.PARKED]
    assert parked_at == [3, 26]
    assert sum(r.outcome is Outcome.TRACKED for r in results) == 28
    replayed = org.tidings.replay.replay_all()
    assert [r.outcome for r in replayed] == [Outcome.PARKED, Outcome.PARKED]
    assert [p.attempts for p in org.tidings.queries.parked()] == [2, 2]


def test_an_email_repeated_after_it_parked_is_not_decided_again_and_does_not_block_the_next(
    org: Org,
) -> None:
    # A sync that fetches the same chunk again (a crash before the cursor moved) finds the
    # parked email parked and goes on.
    emails = [_ordinary(1), _far_dated(2), _ordinary(3)]
    origins = [MessageOrigin(org.mailboxes["dana"], "INBOX", 1, str(uid)) for uid in (1, 2, 3)]
    batch = list(zip(emails, origins, strict=True))
    first = org.tidings.ingest.ingest_batch(batch)
    fourth = MessageOrigin(org.mailboxes["dana"], "INBOX", 1, "4")
    again = org.tidings.ingest.ingest_batch([*batch, (_ordinary(4), fourth)])
    assert [r.outcome for r in first] == [Outcome.TRACKED, Outcome.PARKED, Outcome.TRACKED]
    assert [(r.outcome, r.repeated) for r in again[:3]] == [
        (Outcome.TRACKED, True),
        (Outcome.PARKED, True),
        (Outcome.TRACKED, True),
    ]
    assert again[3].outcome is Outcome.TRACKED


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_message_id_too_big_for_a_postgresql_index_is_kept_and_parks_alone(org: Org) -> None:
    # 980 CJK characters (RFC 6532 allows UTF-8) are under RFC 5322's 998 but 3,920 bytes,
    # more than a PostgreSQL btree entry holds (2,704), even compressed: the bytes are kept,
    # the email parks, the others are tracked.
    rnd = random.Random(20261203)
    wide = "".join(chr(rnd.randint(0x20000, 0x2A6DF)) for _ in range(980))
    huge_id = f"<{wide}@contoso.example>".encode()
    bad = make_email(message_id="<x@y>").replace(b"Message-ID: <x@y>", b"Message-ID: " + huge_id)

    results = _ingest(org, [_ordinary(1), bad, _ordinary(2)])

    assert [r.outcome for r in results] == [Outcome.TRACKED, Outcome.PARKED, Outcome.TRACKED]
    assert "index row size" in results[1].summary
    _assert_short(results[1].summary)
    with org.tidings.uow() as uow:
        assert uow.raw_messages.require(results[1].raw_message_id).raw == bad


# --- Errors at the storage edge -------------------------------------------------------------


def test_a_statement_with_too_many_parameters_is_refused_in_one_line_not_as_a_failing_database(
    tidings: Tidings,
) -> None:
    # Past the limit, the database refuses the statement for its size: that is the data's
    # problem (a parked email), not the database failing; and it is told without the SQL.
    values = list(range(70_000 if tidings.engine.dialect.name == "postgresql" else 1_000))
    statement = text("SELECT 1 WHERE 1 IN :values").bindparams(bindparam("values", expanding=True))
    with tidings.engine.connect() as conn, pytest.raises(OperationalError) as raised:
        conn.execute(statement, {"values": values})
    assert not isinstance(raised.value, StorageError)
    message = str(raised.value)
    _assert_short(message)
    assert len(message) < 400
    assert "69999" not in message


def test_a_constraint_violation_keeps_its_class_and_loses_its_statement(org: Org) -> None:
    # Repositories still catch IntegrityError; what it says is the driver's first line.
    origin = MessageOrigin(org.mailboxes["dana"], "INBOX", 1, "1")
    item = NewRaw(origin, b"x" * 5000, None, "h", datetime.now(UTC))
    with org.tidings.uow() as uow, pytest.raises(IntegrityError) as raised:
        uow.raw_messages.add_many([item, item])
    message = str(raised.value)
    _assert_short(message)
    assert "xxxx" not in message
    assert "unique" in message.lower()


def test_the_database_failing_is_a_storage_error_told_in_one_line(sqlite_url: str) -> None:
    # A database that lacks its tables is the operator's problem: a StorageError.
    app = bootstrap(settings_for(sqlite_url))
    try:
        with app.engine.connect() as conn, pytest.raises(StorageError) as raised:
            conn.exec_driver_sql("SELECT * FROM no_such_table WHERE id IN (1, 2, 3)")
        assert str(raised.value).startswith("the database failed: OperationalError: no such table")
        _assert_short(str(raised.value))
    finally:
        app.close()
