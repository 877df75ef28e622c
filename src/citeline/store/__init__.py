"""Storage backends behind the :class:`citeline.contracts.Store` protocol."""

from __future__ import annotations

from citeline.store.sqlite import SqliteStore

__all__ = ["SqliteStore", "open_store"]


def open_store(settings) -> SqliteStore:
    """Open the store named by the settings (the embedded SQLite file for now)."""
    return SqliteStore(settings.db_path, keyword_index=settings.retrieval.keyword_index)
