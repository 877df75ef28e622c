"""Traces, feedback and uploads, shared by the SQL stores.

A trace is readable by the key that made it and by admins of its tenant; anything else gets
``None``, exactly like a trace that does not exist (the API turns both into 404).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from citeline.contracts import ApiKeyRecord, TraceRecord, UploadRecord

_TRACE_COLS = ("id, tenant, key_id, groups, route, question, answer, decision, created_at, config_hash, response,"
               " reason, confidence, answerer, model, prompt_tokens, completion_tokens, cost_usd, latency_ms")
_UPLOAD_COLS = "id, tenant, filename, path, size_bytes, acl, status, key_id, document_id, error, created_at, updated_at"


def _trace(row: Sequence[Any]) -> TraceRecord:
    return TraceRecord(
        id=row[0], tenant=row[1], key_id=row[2], groups=json.loads(row[3]), route=row[4], question=row[5],
        answer=row[6], decision=row[7], created_at=row[8], config_hash=row[9], response=json.loads(row[10]),
        reason=row[11], confidence=row[12], answerer=row[13], model=row[14], prompt_tokens=row[15],
        completion_tokens=row[16], cost_usd=row[17], latency_ms=row[18],
    )


def _upload(row: Sequence[Any]) -> UploadRecord:
    return UploadRecord(id=row[0], tenant=row[1], filename=row[2], path=row[3], size_bytes=row[4],
                        acl=json.loads(row[5]), status=row[6], key_id=row[7], document_id=row[8], error=row[9],
                        created_at=row[10], updated_at=row[11])


def _scope(caller: ApiKeyRecord, alias: str = "t") -> tuple[str, list[Any]]:
    """Admins see their tenant's traces, members only their own."""
    if caller.role == "admin":
        return f"{alias}.tenant = ?", [caller.tenant]
    return f"{alias}.tenant = ? AND {alias}.key_id = ?", [caller.tenant, caller.id]


class TraceMixin:
    """Mixed into :class:`~citeline.store.sql.SqlStore`; uses its ``_exec`` and ``transaction``."""

    # -- traces ----------------------------------------------------------------------------
    def put_trace(self, trace: TraceRecord) -> None:
        with self.transaction(bump=False):
            self._exec(
                f"INSERT INTO traces ({_TRACE_COLS}) VALUES ({','.join('?' * 19)})",
                (trace.id, trace.tenant, trace.key_id, json.dumps(trace.groups), trace.route, trace.question,
                 trace.answer, trace.decision, trace.created_at, trace.config_hash,
                 json.dumps(trace.response, ensure_ascii=False), trace.reason, trace.confidence, trace.answerer,
                 trace.model, trace.prompt_tokens, trace.completion_tokens, trace.cost_usd, trace.latency_ms),
            )

    def get_trace(self, trace_id: str, caller: ApiKeyRecord) -> TraceRecord | None:
        where, params = _scope(caller)
        cols = ", ".join("t." + c.strip() for c in _TRACE_COLS.split(","))
        row = self._exec(f"SELECT {cols} FROM traces t WHERE t.id = ? AND {where}", [trace_id, *params]).fetchone()
        if row is None:
            return None
        trace = _trace(row)
        trace.feedback = self._feedback_of([trace.id]).get(trace.id, [])
        return trace

    def list_traces(self, caller: ApiKeyRecord, *, decision: str | None = None, rating: int | None = None,
                    since: str | None = None, until: str | None = None, limit: int = 50,
                    offset: int = 0) -> list[TraceRecord]:
        where, params = _scope(caller)
        if decision:
            where += " AND t.decision = ?"
            params.append(decision)
        if rating is not None:
            where += " AND EXISTS (SELECT 1 FROM feedback f WHERE f.trace_id = t.id AND f.rating = ?)"
            params.append(rating)
        if since:
            where += " AND t.created_at >= ?"
            params.append(since)
        if until:
            where += " AND t.created_at < ?"
            params.append(until)
        cols = ", ".join("t." + c.strip() for c in _TRACE_COLS.split(","))
        rows = self._exec(f"SELECT {cols} FROM traces t WHERE {where} ORDER BY t.created_at DESC LIMIT ? OFFSET ?",
                          [*params, limit, offset]).fetchall()
        traces = [_trace(r) for r in rows]
        fb = self._feedback_of([t.id for t in traces])
        for t in traces:
            t.feedback = fb.get(t.id, [])
        return traces

    def iter_traces(self, tenant: str | None = None) -> Iterator[TraceRecord]:
        """Every trace (of a tenant), oldest first, with its feedback: for export."""
        sql, params = f"SELECT {_TRACE_COLS} FROM traces", []
        if tenant is not None:
            sql += " WHERE tenant = ?"
            params.append(tenant)
        cur = self._exec(sql + " ORDER BY created_at", params)
        while rows := cur.fetchmany(500):
            traces = [_trace(r) for r in rows]
            fb = self._feedback_of([t.id for t in traces])
            for t in traces:
                t.feedback = fb.get(t.id, [])
                yield t

    def _feedback_of(self, trace_ids: Sequence[str]) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for i in range(0, len(trace_ids), 500):
            part = list(trace_ids[i : i + 500])
            if not part:
                continue
            for tid, key_id, rating, comment, ts in self._exec(
                "SELECT trace_id, key_id, rating, comment, created_at FROM feedback WHERE trace_id IN"
                f" ({','.join('?' * len(part))}) ORDER BY created_at", part).fetchall():
                out.setdefault(tid, []).append({"key_id": key_id, "rating": "up" if rating > 0 else "down",
                                                "comment": comment, "created_at": ts})
        return out

    # -- feedback --------------------------------------------------------------------------
    def put_feedback(self, trace_id: str, caller: ApiKeyRecord, *, rating: int, comment: str | None) -> bool:
        """Attach (or replace) the caller's thumbs on a trace it may see; False when it may not."""
        from citeline.store.sql import now

        with self.transaction(bump=False):
            where, params = _scope(caller)
            if self._exec(f"SELECT 1 FROM traces t WHERE t.id = ? AND {where}", [trace_id, *params]).fetchone() is None:
                return False
            self._exec(
                "INSERT INTO feedback (trace_id, key_id, rating, comment, created_at) VALUES (?,?,?,?,?)"
                " ON CONFLICT (trace_id, key_id) DO UPDATE SET rating = excluded.rating, comment = excluded.comment,"
                " created_at = excluded.created_at",
                (trace_id, caller.id, rating, comment, now()),
            )
        return True

    # -- uploads ---------------------------------------------------------------------------
    def put_upload(self, up: UploadRecord) -> None:
        from citeline.store.sql import now

        up.created_at = up.updated_at = now()
        with self.transaction(bump=False):
            self._exec(f"INSERT INTO uploads ({_UPLOAD_COLS}) VALUES ({','.join('?' * 12)})",
                       (up.id, up.tenant, up.filename, up.path, up.size_bytes, json.dumps(up.acl), up.status,
                        up.key_id, up.document_id, up.error, up.created_at, up.updated_at))

    def update_upload(self, upload_id: str, *, status: str, document_id: str | None = None,
                      error: str | None = None) -> None:
        from citeline.store.sql import now

        with self.transaction(bump=False):
            self._exec("UPDATE uploads SET status = ?, document_id = COALESCE(?, document_id), error = ?,"
                       " updated_at = ? WHERE id = ?", (status, document_id, error, now(), upload_id))

    def get_upload(self, upload_id: str, *, tenant: str | None) -> UploadRecord | None:
        """An upload of ``tenant``; ``tenant=None`` only for the server's own upload worker."""
        sql, params = f"SELECT {_UPLOAD_COLS} FROM uploads WHERE id = ?", [upload_id]
        if tenant is not None:
            sql += " AND tenant = ?"
            params.append(tenant)
        row = self._exec(sql, params).fetchone()
        return _upload(row) if row else None

    def list_uploads(self, *, tenant: str | None = None, status: Sequence[str] | None = None,
                     limit: int = 100) -> list[UploadRecord]:
        sql, params = f"SELECT {_UPLOAD_COLS} FROM uploads WHERE 1 = 1", []
        if tenant is not None:
            sql += " AND tenant = ?"
            params.append(tenant)
        if status:
            sql += f" AND status IN ({','.join('?' * len(status))})"
            params += list(status)
        return [_upload(r) for r in self._exec(sql + " ORDER BY created_at DESC LIMIT ?", [*params, limit]).fetchall()]


def new_trace_id() -> str:
    return uuid.uuid4().hex
