"""Chunk flags written by the document guard at ingest, shared by the SQL stores.

Flags live and die with their chunks (``ON DELETE CASCADE``): re-ingesting a changed file
replaces its chunks and so its flags, and the pipeline scans the new chunks again.
"""

from __future__ import annotations

from collections.abc import Sequence

from citeline.contracts import ChunkFlag


class GuardMixin:
    """Mixed into :class:`~citeline.store.sql.SqlStore`; uses its ``_exec`` and ``transaction``."""

    def put_chunk_flags(self, document_id: str, flags: Sequence[ChunkFlag]) -> None:
        """Replace the flags of one document's chunks."""
        from citeline.store.sql import now

        ts = now()
        with self.transaction(bump=False):
            self._exec("DELETE FROM chunk_flags WHERE document_id = ?", (document_id,))
            for f in flags:
                self._exec("INSERT OR REPLACE INTO chunk_flags (chunk_id, document_id, rule, score, action, detail,"
                           " created_at) VALUES (?,?,?,?,?,?,?)",
                           (f.chunk_id, f.document_id, f.rule, f.score, f.action, f.detail, ts))

    def chunk_flags(self, chunk_ids: Sequence[str]) -> dict[str, ChunkFlag]:
        out: dict[str, ChunkFlag] = {}
        ids = list(dict.fromkeys(chunk_ids))
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            rows = self._exec(
                "SELECT chunk_id, document_id, rule, score, action, detail FROM chunk_flags"
                f" WHERE chunk_id IN ({','.join('?' * len(part))})", part).fetchall()
            out.update({r[0]: ChunkFlag(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows})
        return out

    def list_chunk_flags(self, tenant: str, *, limit: int = 1000) -> list[ChunkFlag]:
        rows = self._exec(
            "SELECT f.chunk_id, f.document_id, f.rule, f.score, f.action, f.detail FROM chunk_flags f"
            " JOIN documents d ON d.id = f.document_id WHERE d.tenant = ? ORDER BY f.document_id, f.chunk_id LIMIT ?",
            (tenant, limit)).fetchall()
        return [ChunkFlag(*r) for r in rows]
