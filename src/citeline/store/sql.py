"""Query logic shared by the SQL stores. Backends supply the connection and dialect bits.

Statements are written once with ``?`` placeholders; a backend whose driver wants another
paramstyle overrides :meth:`SqlStore._sql`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np

from citeline.contracts import Block, Chunk, DocumentRecord, IngestRun, Page, Principal, SearchHit
from citeline.store.sql_access import AccessMixin
from citeline.store.sql_evals import EvalMixin
from citeline.store.sql_guards import GuardMixin
from citeline.store.sql_traces import TraceMixin

_DOC_COLS = (
    "id, tenant, source_uri, content_hash, title, doc_type, page_count, chunk_count, size_bytes, "
    "mtime, acl, metadata, status, error, run_id, created_at, updated_at"
)
#: statuses whose chunks are searchable
SEARCHABLE = ("ok", "partial", "stale")
#: the generation the current write transaction commits as (it bumps the counter last): stored in
#: ``documents.index_gen`` so derived indexes can find the documents written since they last looked
_NEXT_GEN = "(SELECT value + 1 FROM store_meta WHERE key = 'generation')"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def document_id(tenant: str, source_uri: str) -> str:
    return hashlib.sha256(f"{tenant}\0{source_uri}".encode()).hexdigest()[:20]


def _doc(row: Sequence[Any]) -> DocumentRecord:
    return DocumentRecord(
        id=row[0], tenant=row[1], source_uri=row[2], content_hash=row[3], title=row[4], doc_type=row[5],
        page_count=row[6], chunk_count=row[7], size_bytes=row[8], mtime=row[9], acl=json.loads(row[10]),
        metadata=json.loads(row[11]), status=row[12], error=row[13], run_id=row[14], created_at=row[15],
        updated_at=row[16],
    )


class SqlStore(AccessMixin, TraceMixin, EvalMixin, GuardMixin):
    """Everything but connection set-up, migrations and full-text search."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._conn: Any = None

    # -- plumbing --------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._sql(sql), params)

    @contextmanager
    def transaction(self, *, bump: bool = True) -> Iterator[None]:
        """A write transaction; ``bump`` advances the generation that invalidates cached indexes."""
        with self._lock:
            self._exec("BEGIN IMMEDIATE")
            try:
                yield
                if bump:
                    self._exec("UPDATE store_meta SET value = value + 1 WHERE key = 'generation'")
            except BaseException:
                self._conn.rollback()
                raise
            else:
                self._conn.commit()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- documents -------------------------------------------------------------------------
    def get_document(self, doc_id: str, *, tenant: str) -> DocumentRecord | None:
        row = self._exec(f"SELECT {_DOC_COLS} FROM documents WHERE id = ? AND tenant = ?", (doc_id, tenant)).fetchone()
        return _doc(row) if row else None

    def find_document(self, tenant: str, source_uri: str) -> DocumentRecord | None:
        row = self._exec(
            f"SELECT {_DOC_COLS} FROM documents WHERE tenant = ? AND source_uri = ?", (tenant, source_uri)
        ).fetchone()
        return _doc(row) if row else None

    def list_documents(
        self, tenant: str, *, status: Sequence[str] | None = None, limit: int | None = None
    ) -> list[DocumentRecord]:
        sql = f"SELECT {_DOC_COLS} FROM documents WHERE tenant = ?"
        params: list[Any] = [tenant]
        if status:
            sql += f" AND status IN ({','.join('?' * len(status))})"
            params += list(status)
        sql += " ORDER BY source_uri"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return [_doc(r) for r in self._exec(sql, params).fetchall()]

    def document_index(self, tenant: str) -> dict[str, DocumentRecord]:
        return {d.source_uri: d for d in self.list_documents(tenant)}

    def _upsert_document(self, doc: DocumentRecord) -> None:
        ts = now()
        doc.updated_at = ts
        doc.created_at = doc.created_at or ts
        self._exec(
            f"""INSERT INTO documents ({_DOC_COLS}, index_gen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,{_NEXT_GEN})
            ON CONFLICT (id) DO UPDATE SET content_hash=excluded.content_hash, title=excluded.title,
              doc_type=excluded.doc_type, page_count=excluded.page_count, chunk_count=excluded.chunk_count,
              size_bytes=excluded.size_bytes, mtime=excluded.mtime, acl=excluded.acl, metadata=excluded.metadata,
              status=excluded.status, error=excluded.error, run_id=excluded.run_id, updated_at=excluded.updated_at,
              index_gen=excluded.index_gen""",
            (
                doc.id, doc.tenant, doc.source_uri, doc.content_hash, doc.title, doc.doc_type, doc.page_count,
                doc.chunk_count, doc.size_bytes, doc.mtime, json.dumps(sorted(set(doc.acl))),
                json.dumps(doc.metadata), doc.status, doc.error, doc.run_id, doc.created_at, doc.updated_at,
            ),
        )
        self._exec("DELETE FROM document_acl WHERE document_id = ?", (doc.id,))
        for grp in sorted(set(doc.acl)):
            self._exec("INSERT INTO document_acl (document_id, grp) VALUES (?, ?)", (doc.id, grp))

    def replace_document(self, doc: DocumentRecord, pages: Sequence[Page], chunks: Sequence[Chunk]) -> None:
        """Write a document with its pages and chunks, replacing any previous version atomically."""
        doc.page_count = len(pages)
        doc.chunk_count = len(chunks)
        with self.transaction():
            self._exec("DELETE FROM chunks WHERE document_id = ?", (doc.id,))
            self._exec("DELETE FROM pages WHERE document_id = ?", (doc.id,))
            self._upsert_document(doc)
            self._conn.executemany(
                self._sql("INSERT INTO pages (document_id, page_no, text, blocks, needs_ocr, ocr) VALUES (?,?,?,?,?,?)"),
                [
                    (doc.id, p.number, p.text, json.dumps([[b.kind, b.start, b.end, b.level] for b in p.blocks]),
                     int(p.needs_ocr), int(p.ocr))
                    for p in pages
                ],
            )
            self._conn.executemany(
                self._sql(
                    "INSERT INTO chunks (id, document_id, ordinal, page, start_char, end_char, heading_path, text,"
                    " text_hash) VALUES (?,?,?,?,?,?,?,?,?)"
                ),
                [(c.id, doc.id, c.ordinal, c.page, c.start, c.end, c.heading_path, c.text, c.text_hash) for c in chunks],
            )

    def mark_failed(self, doc: DocumentRecord) -> DocumentRecord:
        """Record a failure. A previously indexed version stays searchable, marked ``stale``."""
        with self.transaction():
            old = self.find_document(doc.tenant, doc.source_uri)
            if old is not None and old.chunk_count > 0 and old.status in SEARCHABLE:
                old.status, old.error, old.run_id = "stale", doc.error, doc.run_id
                self._upsert_document(old)
                return old
            doc.status, doc.page_count, doc.chunk_count = "failed", 0, 0
            self._exec("DELETE FROM chunks WHERE document_id = ?", (doc.id,))
            self._exec("DELETE FROM pages WHERE document_id = ?", (doc.id,))
            self._upsert_document(doc)
            return doc

    def touch_document(
        self, doc_id: str, *, mtime: float | None, size: int | None, acl: list[str], run_id: str
    ) -> None:
        with self.transaction():
            self._exec(
                f"UPDATE documents SET mtime = ?, size_bytes = ?, acl = ?, run_id = ?, updated_at = ?,"
                f" index_gen = {_NEXT_GEN} WHERE id = ?",
                (mtime, size, json.dumps(sorted(set(acl))), run_id, now(), doc_id),
            )
            self._exec("DELETE FROM document_acl WHERE document_id = ?", (doc_id,))
            for grp in sorted(set(acl)):
                self._exec("INSERT INTO document_acl (document_id, grp) VALUES (?, ?)", (doc_id, grp))

    def delete_document(self, doc_id: str, *, tenant: str) -> bool:
        with self.transaction():
            cur = self._exec("DELETE FROM documents WHERE id = ? AND tenant = ?", (doc_id, tenant))
            return cur.rowcount > 0

    # -- pages & chunks --------------------------------------------------------------------
    def get_page(self, doc_id: str, page: int, *, tenant: str) -> Page | None:
        row = self._exec(
            "SELECT p.page_no, p.text, p.blocks, p.needs_ocr, p.ocr FROM pages p JOIN documents d ON d.id = p.document_id"
            " WHERE p.document_id = ? AND p.page_no = ? AND d.tenant = ?",
            (doc_id, page, tenant),
        ).fetchone()
        if row is None:
            return None
        blocks = [Block(kind=k, start=s, end=e, level=lv) for k, s, e, lv in json.loads(row[2])]
        return Page(number=row[0], text=row[1], blocks=blocks, needs_ocr=bool(row[3]), ocr=bool(row[4]))

    def chunks_of(self, doc_id: str, *, tenant: str) -> list[Chunk]:
        rows = self._exec(
            "SELECT c.id, c.document_id, c.ordinal, c.page, c.start_char, c.end_char, c.heading_path, c.text,"
            " c.text_hash FROM chunks c JOIN documents d ON d.id = c.document_id"
            " WHERE c.document_id = ? AND d.tenant = ? ORDER BY c.ordinal",
            (doc_id, tenant),
        ).fetchall()
        return [Chunk(*r) for r in rows]

    def count_chunks(self, tenant: str | None = None) -> int:
        if tenant is None:
            return self._exec("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return self._exec(
            "SELECT COUNT(*) FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.tenant = ?", (tenant,)
        ).fetchone()[0]

    # -- vectors ---------------------------------------------------------------------------
    def pending_embeddings(self, model: str, after_rowid: int, limit: int) -> list[tuple[int, str, str]]:
        """Chunks after ``after_rowid`` whose text has no vector for ``model``: (rowid, text_hash, text)."""
        return [
            tuple(r)
            for r in self._exec(
                "SELECT c.rowid, c.text_hash, c.text FROM chunks c WHERE c.rowid > ? AND NOT EXISTS"
                " (SELECT 1 FROM embeddings e WHERE e.text_hash = c.text_hash AND e.model = ?)"
                " ORDER BY c.rowid LIMIT ?",
                (after_rowid, model, limit),
            ).fetchall()
        ]

    def count_pending_embeddings(self, model: str) -> int:
        return self._exec(
            "SELECT COUNT(DISTINCT c.text_hash) FROM chunks c WHERE NOT EXISTS"
            " (SELECT 1 FROM embeddings e WHERE e.text_hash = c.text_hash AND e.model = ?)",
            (model,),
        ).fetchone()[0]

    def put_embeddings(self, model: str, items: Sequence[tuple[str, np.ndarray]]) -> None:
        with self.transaction():
            self._conn.executemany(
                self._sql("INSERT OR IGNORE INTO embeddings (text_hash, model, dim, vector, gen)"
                          f" VALUES (?,?,?,?,{_NEXT_GEN})"),
                [(h, model, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes()) for h, v in items],
            )

    def get_embeddings(self, model: str, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(text_hashes), 500):
            part = list(text_hashes[i : i + 500])
            rows = self._exec(
                f"SELECT text_hash, vector FROM embeddings WHERE model = ? AND text_hash IN ({','.join('?' * len(part))})",
                [model, *part],
            ).fetchall()
            out.update({h: np.frombuffer(b, dtype=np.float32) for h, b in rows})
        return out

    def get_sentence_vectors(self, model: str, text_hashes: Sequence[str]) -> dict[str, tuple[list, np.ndarray]]:
        out: dict[str, tuple[list, np.ndarray]] = {}
        for i in range(0, len(text_hashes), 500):
            part = list(text_hashes[i : i + 500])
            rows = self._exec(
                "SELECT text_hash, spans, vectors FROM sentence_embeddings WHERE model = ? AND text_hash IN"
                f" ({','.join('?' * len(part))})",
                [model, *part],
            ).fetchall()
            for h, spans, blob in rows:
                spans = json.loads(spans)
                out[h] = (spans, np.frombuffer(blob, dtype=np.float16).reshape(len(spans), -1))
        return out

    def put_sentence_vectors(self, model: str, items: Sequence[tuple[str, list, np.ndarray]]) -> None:
        with self.transaction(bump=False):  # a cache: searchable content did not change
            self._conn.executemany(
                self._sql("INSERT OR IGNORE INTO sentence_embeddings (text_hash, model, spans, vectors) VALUES (?,?,?,?)"),
                [(h, model, json.dumps(spans), np.asarray(v, dtype=np.float16).tobytes()) for h, spans, v in items],
            )

    # -- retrieval support -----------------------------------------------------------------
    def generation(self) -> int:
        """Bumped by every write; readers use it to know when cached indexes are stale."""
        return self._exec("SELECT value FROM store_meta WHERE key = 'generation'").fetchone()[0]

    def vector_rows(self, model: str, *, documents: Sequence[str] | None = None,
                    embedded_since: int | None = None) -> Iterator[tuple[str, str, int, bytes, str]]:
        """(tenant, acl json, chunk rowid, float32 vector bytes, document id) of searchable chunks, in no
        particular order (sorting 1.5 KB rows in SQL made a temp B-tree of the whole matrix: minutes at
        1M chunks). ``documents``: only these documents' chunks; ``embedded_since``: only chunks whose
        vector was added after that generation (what a dense index that saw it lacks)."""
        cols = "SELECT d.tenant, d.acl, c.rowid, e.vector, d.id"
        status = f"d.status IN ({','.join('?' * len(SEARCHABLE))})"
        if embedded_since is not None:  # from the few new vectors out (index embeddings_gen)
            queries = [(f"""{cols} FROM embeddings e JOIN chunks c ON c.text_hash = e.text_hash
                            JOIN documents d ON d.id = c.document_id
                            WHERE e.model = ? AND e.gen > ? AND {status}""", (model, embedded_since, *SEARCHABLE))]
        elif documents is not None:  # CROSS JOIN keeps this order: SQLite would walk every vector of the model
            ids = list(documents)
            queries = [(f"""{cols} FROM documents d CROSS JOIN chunks c ON c.document_id = d.id
                            CROSS JOIN embeddings e ON e.text_hash = c.text_hash AND e.model = ?
                            WHERE d.id IN ({','.join('?' * len(part))}) AND {status}""", (model, *part, *SEARCHABLE))
                       for part in (ids[i : i + 500] for i in range(0, len(ids), 500))]
        else:
            queries = [(f"""{cols} FROM chunks c JOIN documents d ON d.id = c.document_id
                            JOIN embeddings e ON e.text_hash = c.text_hash AND e.model = ?
                            WHERE {status}""", (model, *SEARCHABLE))]
        for sql, params in queries:
            cur = self._exec(sql, params)
            while rows := cur.fetchmany(4096):
                yield from rows

    def documents_written_since(self, generation: int) -> list[str]:
        """Ids of the documents written (replaced, failed, ACL changed) after ``generation``."""
        return [r[0] for r in self._exec("SELECT id FROM documents WHERE index_gen > ?", (generation,))]

    def document_ids(self) -> list[str]:
        return [r[0] for r in self._exec("SELECT id FROM documents")]

    def document_count(self) -> int:
        return self._exec("SELECT COUNT(*) FROM documents").fetchone()[0]

    def hits_by_rowid(self, rowids: Sequence[int], principal: Principal) -> dict[int, SearchHit]:
        """Chunks by rowid, re-checked against tenant and ACL in the query; unknown or forbidden ids are absent."""
        if not rowids or not principal.groups:
            return {}
        readable, params = self._readable(principal)
        out: dict[int, SearchHit] = {}
        for i in range(0, len(rowids), 500):
            part = list(rowids[i : i + 500])
            rows = self._exec(
                f"""SELECT c.id, c.document_id, d.title, d.source_uri, c.page, c.start_char, c.end_char,
                           c.heading_path, c.text, 0.0, c.rowid, c.text_hash
                    FROM chunks c JOIN documents d ON d.id = c.document_id
                    WHERE c.rowid IN ({",".join("?" * len(part))}) AND {readable}
                      AND d.status IN ({",".join("?" * len(SEARCHABLE))})""",
                (*part, *params, *SEARCHABLE),
            ).fetchall()
            out.update({r[10]: SearchHit(*r) for r in rows})
        return out

    # -- runs ------------------------------------------------------------------------------
    def start_run(self, config_hash: str, args: dict) -> IngestRun:
        run = IngestRun(id=uuid.uuid4().hex[:12], started_at=now(), status="running", config_hash=config_hash, args=args)
        with self.transaction():
            # a run still marked running was killed: say so
            self._exec("UPDATE ingest_runs SET status = 'interrupted' WHERE status = 'running'")
            self._exec(
                "INSERT INTO ingest_runs (id, started_at, status, config_hash, args) VALUES (?,?,?,?,?)",
                (run.id, run.started_at, run.status, config_hash, json.dumps(args)),
            )
        return run

    def finish_run(self, run_id: str, status: str, counts: dict[str, int]) -> None:
        with self.transaction():
            self._exec(
                "UPDATE ingest_runs SET status = ?, finished_at = ?, counts = ? WHERE id = ?",
                (status, now(), json.dumps(counts), run_id),
            )

    def list_runs(self, limit: int = 20) -> list[IngestRun]:
        rows = self._exec(
            "SELECT id, started_at, finished_at, status, config_hash, args, counts FROM ingest_runs"
            " ORDER BY started_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            IngestRun(id=r[0], started_at=r[1], finished_at=r[2], status=r[3], config_hash=r[4],
                      args=json.loads(r[5]), counts=json.loads(r[6]))
            for r in rows
        ]
