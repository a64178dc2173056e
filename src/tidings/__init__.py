"""Tidings: server-side email synchronization and tracking for CRM."""

from __future__ import annotations

__version__ = "0.1.0"
