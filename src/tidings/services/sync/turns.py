"""Which folders share one connection, so that no server profile is sent more connections
than its *maximum concurrent connections*."""

from __future__ import annotations

from collections.abc import Sequence

from tidings.services.sync.model import SyncTarget


def taking_turns(targets: Sequence[SyncTarget]) -> set[tuple[int, str]]:
    """The folders that must share one connection so that no server profile is sent more
    connections than its *maximum concurrent connections*.

    When a profile has more folders than connections allowed, all but one of the allowed
    connections go to folders of their own (IDLE, in a stable order); the remaining folders
    take the last connection in turn, polling.
    """
    by_profile: dict[int | None, list[SyncTarget]] = {}
    for target in targets:
        by_profile.setdefault(target.profile.id, []).append(target)
    turns: set[tuple[int, str]] = set()
    for group in by_profile.values():
        limit = group[0].profile.max_concurrent_connections
        if len(group) <= limit:
            continue
        ordered = sorted(group, key=lambda t: (t.mailbox_id, t.folder))
        turns |= {(t.mailbox_id, t.folder) for t in ordered[limit - 1 :]}
    return turns
