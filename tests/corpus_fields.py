"""The corpus cases whose MANIFEST.toml entry lists the exact fields Tidings must read."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "data" / "corpus"
MANIFEST: dict[str, dict[str, Any]] = tomllib.loads(
    (CORPUS / "MANIFEST.toml").read_text(encoding="utf-8")
)
EXPECTED: dict[str, dict[str, Any]] = {
    name: entry["expected"] for name, entry in MANIFEST.items() if "expected" in entry
}
#: The fields every expected entry gives.
FIELDS = {
    "subject", "from", "from_name", "to", "cc", "bcc", "message_id", "in_reply_to",
    "references", "text_body", "attachments", "blocked", "automated",
}  # fmt: skip
