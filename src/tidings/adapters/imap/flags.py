"""Pure parsing of what flag synchronization reads: PERMANENTFLAGS from SELECT (RFC 3501
§7.1), and FLAGS with MODSEQ from ``UID FETCH … (CHANGEDSINCE n)`` (RFC 7162 §3.1.4)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tidings.adapters.imap.shared_words import shared
from tidings.domain.tracked_category import FlagState

_PERMANENT = re.compile(rb"\[PERMANENTFLAGS \(([^)]*)\)\]", re.IGNORECASE)
_FETCH = re.compile(rb"^\d+ FETCH \((.*)\)\s*$", re.IGNORECASE)
_UID = re.compile(rb"\bUID (\d+)", re.IGNORECASE)
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)", re.IGNORECASE)
_MODSEQ = re.compile(rb"\bMODSEQ \((\d+)\)", re.IGNORECASE)


def parse_permanent_flags(lines: Sequence[bytes | bytearray]) -> frozenset[str] | None:
    """The flags a folder keeps for good; None when SELECT did not say."""
    for line in lines:
        if match := _PERMANENT.search(bytes(line)):
            return shared(match.group(1).decode("ascii", "replace").split())
    return None


def parse_flag_fetch(lines: Sequence[bytes | bytearray]) -> list[FlagState]:
    """Every message's UID, FLAGS and MODSEQ in a FETCH response; lines without a UID or
    FLAGS (an unsolicited update of another kind) are left out."""
    found: dict[int, FlagState] = {}
    for line in lines:
        if isinstance(line, bytearray):
            continue  # a literal: flags never come as one
        match = _FETCH.match(bytes(line).strip())
        if match is None:
            continue
        body = match.group(1)
        uid, flags = _UID.search(body), _FLAGS.search(body)
        if uid is None or flags is None:
            continue
        modseq = _MODSEQ.search(body)
        state = FlagState(
            int(uid.group(1)),
            frozenset(flags.group(1).decode("utf-8", "replace").split()),
            int(modseq.group(1)) if modseq else None,
        )
        found[state.uid] = state  # the last report of a message is its state
    return sorted(found.values(), key=lambda s: s.uid)


def uid_set(uids: Sequence[int]) -> str:
    """A compact UID set: runs as ``a:b`` (RFC 3501 ``sequence-set``)."""
    ordered = sorted(set(uids))
    parts: list[str] = []
    start = previous = ordered[0]
    for uid in ordered[1:]:
        if uid == previous + 1:
            previous = uid
            continue
        parts.append(f"{start}:{previous}" if previous > start else str(start))
        start = previous = uid
    parts.append(f"{start}:{previous}" if previous > start else str(start))
    return ",".join(parts)
