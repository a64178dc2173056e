"""Storage on SQLAlchemy Core: SQLite by default, PostgreSQL in production."""

from __future__ import annotations
