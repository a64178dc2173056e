"""Use cases: each owns its transaction and reaches the world only through ``ports``."""

from __future__ import annotations
