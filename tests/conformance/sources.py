"""Every mail source the conformance suite runs over, by pytest id.

Each entry starts its system (a real server, or a vendor's contract fake) in a directory of
its own and yields a ``MailSource`` (see ``tests/conformance/source.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from tests.conformance.dovecot_source import imap_source, pop3_source
from tests.conformance.source import MailSource
from tests.conformance.xoauth2_source import imap_xoauth2_source
from tests.contract.ews_oauth_source import ews_oauth_source
from tests.contract.ews_source import ews_source
from tests.contract.gmail_source import gmail_source
from tests.contract.graph_source import graph_source

SourceFactory = Callable[[Path], AbstractContextManager[MailSource]]

SOURCES: dict[str, SourceFactory] = {
    "imap": imap_source,
    "pop3": pop3_source,
    "imap-xoauth2": imap_xoauth2_source,
    "gmail": gmail_source,
    "graph": graph_source,
    "ews": ews_source,
    "ews-oauth": ews_oauth_source,
}
