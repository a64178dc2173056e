"""Opt-in JSON logs: one object per line, and no credential, token or email text in them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from tidings.adapters.json_logs import configure_json_logging


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    # Configured by each test itself: the handler holds the standard error of the moment,
    # which pytest swaps between a fixture's set-up and the test.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield capsys
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]


def test_each_record_is_one_json_object_with_level_logger_and_time(json_logs) -> None:
    configure_json_logging()
    logging.getLogger("tidings.services.sync").warning("mailbox %d: backing off", 7)
    [record] = _lines(json_logs)
    assert record["event"] == "mailbox 7: backing off"
    assert record["level"] == "warning"
    assert record["logger"] == "tidings.services.sync"
    assert str(record["timestamp"]).endswith("Z")


def test_secret_fields_and_email_content_never_reach_the_log(json_logs) -> None:
    configure_json_logging()
    log = logging.getLogger("tidings.test")
    log.info(
        "signed in",
        extra={"password": "hunter2", "refresh_token": "1//abc", "body": "Dear Maria", "n": 3},
    )
    log.info("calling Graph with Bearer eyJhbGciOi.payload.sig and token=s3cr3t&x=1")
    log.info("webhook secret whsec_AbC123 and API token tdg_XyZ789 shown by mistake")
    log.error(
        "batch failed: (psycopg.errors.ProgramLimitExceeded) too many parameters\n"
        "[SQL: SELECT * FROM record_addresses WHERE address IN (%(a)s)]\n"
        "[parameters: {'a': 'maria@contoso.example', 'body': 'Dear Maria'}]\n"
        "(Background on this error at: https://sqlalche.me/e/20/f405)"
    )
    text = json_logs.readouterr().err
    for secret in ("hunter2", "1//abc", "Dear Maria", "eyJhbGciOi", "s3cr3t", "AbC123", "XyZ789"):
        assert secret not in text
    assert "maria@contoso.example" not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["n"] == 3
    assert records[0]["password"] == "[redacted]"
    assert "too many parameters" in str(records[3]["event"])
