"""IMAP: a thin asyncio client (aioimaplib) over pure response parsing."""

from __future__ import annotations
