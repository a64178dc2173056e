"""Which attachments are kept: blocked extensions and the size limit."""

from __future__ import annotations

import pytest

from tidings.domain.activity import Attachment
from tidings.domain.attachments import admit_attachment, blocked_reason, extension_of
from tidings.domain.message import AttachmentPart
from tidings.domain.settings import DEFAULT_BLOCKED_EXTENSIONS, EmailConfiguration

DEFAULT = EmailConfiguration()
#: A 1 KB limit makes the boundary easy to reach: 1024 bytes pass, 1025 do not.
ONE_KB = EmailConfiguration(max_attachment_kb=1)


def part(filename: str, content: bytes = b"data", content_id: str | None = None) -> AttachmentPart:
    return AttachmentPart(filename, "application/octet-stream", content, content_id, False)


@pytest.mark.parametrize(
    ("filename", "extension"),
    [
        ("a.exe", "exe"),
        ("a.EXE", "exe"),
        ("a.exe. ", "exe"),
        ("a.exe...", "exe"),
        (" a.Exe ", "exe"),
        ("archive.tar.gz", "gz"),
        ("report.final.PDF", "pdf"),
        ("noext", ""),
        ("", ""),
        ("...", ""),
    ],
)
def test_extension_of_is_the_lower_case_last_extension(filename: str, extension: str) -> None:
    # Case, trailing dots and trailing spaces (which Windows ignores) don't hide an extension.
    assert extension_of(filename) == extension


def test_the_default_blocked_list_holds_d365s_dangerous_extensions() -> None:
    # The D365 defaults the design names are all blocked; ordinary documents are not.
    assert {"exe", "bat", "js", "vbs", "scr", "msi", "ps1"} <= DEFAULT_BLOCKED_EXTENSIONS
    assert {"pdf", "docx", "xlsx", "csv", "png", "eml"}.isdisjoint(DEFAULT_BLOCKED_EXTENSIONS)


@pytest.mark.parametrize(
    ("filename", "extension"),
    [("invoice.exe", "exe"), ("script.js", "js"), ("INVOICE.PDF.EXE", "exe"), ("run.bat. ", "bat")],
)
def test_a_blocked_extension_is_refused_with_the_reason(filename: str, extension: str) -> None:
    # The reason names the extension and where it is blocked.
    assert blocked_reason(part(filename), DEFAULT) == (
        f"the extension .{extension} is blocked by the email configuration settings"
    )


@pytest.mark.parametrize("filename", ["quote.pdf", "list.csv", "noext", "archive.tar.gz"])
def test_an_allowed_extension_of_a_small_file_is_kept(filename: str) -> None:
    # Anything not on the list and within the limit is kept.
    assert blocked_reason(part(filename), DEFAULT) is None


def test_the_organization_chooses_which_extensions_are_blocked() -> None:
    # A custom list replaces the defaults.
    config = EmailConfiguration(blocked_extensions=frozenset({"pdf"}))

    assert blocked_reason(part("quote.pdf"), config) == (
        "the extension .pdf is blocked by the email configuration settings"
    )
    assert blocked_reason(part("setup.exe"), config) is None


def test_an_attachment_of_exactly_the_limit_is_kept() -> None:
    # The limit is inclusive: 1 KB is 1024 bytes and 1024 bytes pass.
    assert blocked_reason(part("a.pdf", b"x" * 1024), ONE_KB) is None


def test_an_attachment_one_byte_over_the_limit_is_refused() -> None:
    # 1025 bytes exceed 1 KB, and the reason gives both figures.
    assert blocked_reason(part("a.pdf", b"x" * 1025), ONE_KB) == (
        "1025 bytes exceeds the maximum attachment size of 1 KB"
    )


def test_the_default_limit_is_five_megabytes() -> None:
    # D365's 5 MB default: 5,242,880 bytes pass, one more does not.
    assert DEFAULT.max_attachment_kb == 5120
    assert blocked_reason(part("a.pdf", b"x" * 5_242_880), DEFAULT) is None
    assert blocked_reason(part("a.pdf", b"x" * 5_242_881), DEFAULT) == (
        "5242881 bytes exceeds the maximum attachment size of 5120 KB"
    )


def test_a_zero_limit_keeps_only_empty_attachments() -> None:
    # With a 0 KB limit every attachment with content is refused.
    config = EmailConfiguration(max_attachment_kb=0)

    assert blocked_reason(part("a.pdf", b""), config) is None
    assert blocked_reason(part("a.pdf", b"x"), config) == (
        "1 bytes exceeds the maximum attachment size of 0 KB"
    )


def test_a_blocked_extension_is_reported_before_the_size() -> None:
    # An oversized .exe is refused for its extension, the more useful reason.
    assert blocked_reason(part("a.exe", b"x" * 2048), ONE_KB) == (
        "the extension .exe is blocked by the email configuration settings"
    )


def test_admit_attachment_keeps_an_allowed_attachment_with_its_content() -> None:
    # A kept attachment is recorded with name, type, size, content id and content.
    found = part("quote.pdf", b"%PDF-1.4", content_id="<logo@x>")

    assert admit_attachment(found, DEFAULT) == Attachment(
        filename="quote.pdf",
        content_type="application/octet-stream",
        size=8,
        blocked_reason=None,
        content_id="<logo@x>",
        content=b"%PDF-1.4",
    )


def test_admit_attachment_drops_the_content_of_a_blocked_attachment_but_keeps_its_trace() -> None:
    # A blocked attachment keeps its name, size and reason, never its bytes.
    admitted = admit_attachment(part("invoice.exe", b"MZ\x90\x00"), DEFAULT)

    assert admitted.is_blocked
    assert admitted.content is None
    assert (admitted.filename, admitted.size) == ("invoice.exe", 4)
    assert admitted.blocked_reason == (
        "the extension .exe is blocked by the email configuration settings"
    )


def test_admit_attachment_drops_the_content_of_an_oversized_attachment() -> None:
    # Too big: recorded with its size and reason, without content.
    admitted = admit_attachment(part("big.pdf", b"x" * 1025), ONE_KB)

    assert admitted.content is None
    assert admitted.size == 1025
    assert admitted.blocked_reason == "1025 bytes exceeds the maximum attachment size of 1 KB"
