"""Logs as text lines or (opt-in) one JSON object per line, and no credential, token or email
text in either."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from tidings.adapters.logs import configure_logging


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
    configure_logging("json")
    logging.getLogger("tidings.services.sync").warning("mailbox %d: backing off", 7)
    [record] = _lines(json_logs)
    assert record["event"] == "mailbox 7: backing off"
    assert record["level"] == "warning"
    assert record["logger"] == "tidings.services.sync"
    assert str(record["timestamp"]).endswith("Z")


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_secret_fields_and_email_content_never_reach_the_log(json_logs, log_format) -> None:
    configure_logging(log_format)
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
    assert "too many parameters" in text
    if log_format == "text":
        assert "password=[redacted]" in text.splitlines()[0]
        return
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["n"] == 3
    assert records[0]["password"] == "[redacted]"
    assert "too many parameters" in str(records[3]["event"])


def test_a_text_line_says_when_how_bad_where_and_what(json_logs) -> None:
    configure_logging("text")
    try:
        raise OSError("connection reset")
    except OSError:
        logging.getLogger("tidings.services.sync").exception("mailbox %d: lost", 7)
    first, *rest = json_logs.readouterr().err.splitlines()
    stamp, rest_of_line = first.split(" ", 1)
    assert stamp.endswith("Z") and "T" in stamp
    assert rest_of_line.split() == [
        "[error",
        "]",
        "mailbox",
        "7:",
        "lost",
        "[tidings.services.sync]",
    ]
    assert any("OSError: connection reset" in line for line in rest)


def test_the_web_servers_coloured_copy_of_a_message_is_left_out(json_logs) -> None:
    configure_logging("text")
    # Not uvicorn's own logger: a test before may have configured (and disabled) it.
    logging.getLogger("tidings.test.web").info(
        "Started server process [%d]", 7, extra={"color_message": "Started \x1b[36m%d\x1b[0m"}
    )
    line = json_logs.readouterr().err
    assert "Started server process [7]" in line
    assert "color_message" not in line and "\x1b" not in line


def test_the_task_queues_account_of_each_job_is_left_to_debug(json_logs) -> None:
    # procrastinate tells of every job deferred, started and ended at INFO: most of a
    # worker's log, and nothing an operator acts on.
    queue = logging.getLogger("procrastinate.worker")
    configure_logging("json")
    queue.info("Starting job hold_mailbox[5](mailbox_id=2)")
    queue.warning("Job hold_mailbox[5] stalled")
    logging.getLogger("tidings.services.sync.holding").info("mailbox 2 held by vm:1")
    assert [r["event"] for r in _lines(json_logs)] == [
        "Job hold_mailbox[5] stalled",
        "mailbox 2 held by vm:1",
    ]
    configure_logging("json", logging.DEBUG)
    queue.info("Starting job hold_mailbox[6](mailbox_id=3)")
    assert [r["event"] for r in _lines(json_logs)] == ["Starting job hold_mailbox[6](mailbox_id=3)"]
    logging.getLogger("procrastinate").setLevel(logging.NOTSET)


#: Text from outside that a log line may quote, and what it would do to a text log read in a
#: terminal or line by line: forge a record, rewrite the line, recolour or retitle the
#: terminal, or show itself reordered (CVE-2021-42574's bidirectional overrides).
FORGERIES = [
    "Archive\n2026-12-05T10:00:00Z [error    ] sync of ceo@northwind.example/INBOX stopped",
    "Archive\r2026-12-05T10:00:00Z [info     ] all good",
    "Archive\u2028[error] forged on a Unicode line separator",
    "Archive\x1b[2K\x1b[1Grewritten",
    "Archive\x1b]0;retitled\x07",
    "Archive\x9b31mred",
    "invoice\u202egpj.exe",
    "admin\u2066\u2069\u2067hidden\u2069",
]


@pytest.mark.parametrize("folder", FORGERIES)
def test_text_from_outside_stays_on_its_records_line_and_cannot_steer_the_terminal(
    json_logs, folder: str
) -> None:
    configure_logging("text")
    log = logging.getLogger("tidings.services.sync")
    log.warning("sync of %s/%s failed: %s", "dana@northwind.example", folder, folder)
    log.info("next", extra={"folder": folder})
    lines = json_logs.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    for line in lines:
        for char in line:
            assert char == "\t" or (char.isprintable() and char not in "\u202e\u2066\u2067\u2069")
    # Nothing is lost: each such character is written as its escape (in the message; a
    # field's value is quoted as well where it holds a space).
    shown = "".join(_escape(char) if not char.isprintable() else char for char in folder)
    assert f"/{shown} failed: {shown} [" in lines[0]


def _escape(char: str) -> str:
    named = {"\n": "\\n", "\r": "\\r"}
    return named.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


def test_a_tracebacks_lines_stay_but_its_text_cannot_steer_the_terminal(json_logs) -> None:
    configure_logging("text")
    try:
        raise OSError("server said: \x1b[31mNO\x1b[0m\rforged")
    except OSError:
        logging.getLogger("tidings.services.sync").exception("lost")
    first, *rest = json_logs.readouterr().err.splitlines()
    assert first.endswith("[tidings.services.sync]")
    assert rest[0].startswith("Traceback") and len(rest) > 2
    assert any("OSError: server said: \\x1b[31mNO\\x1b[0m\\rforged" in line for line in rest)
    assert not any("\x1b" in line or "\r" in line for line in rest)
