"""Server-side sync of incoming email."""

from tidings.services.sync.supervisor import SyncService

__all__ = ["SyncService"]
