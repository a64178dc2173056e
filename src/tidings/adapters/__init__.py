"""Adapters: thin I/O layers between Tidings' services and the outside world."""

from __future__ import annotations
