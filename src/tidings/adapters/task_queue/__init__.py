"""The task queue that shares work among worker processes (procrastinate, on PostgreSQL)."""
