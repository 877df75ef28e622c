"""Uploaded documents: saved to disk first, then ingested one by one in a background thread.

An upload is recorded (``queued``) before the request returns, so a server killed mid-way
loses nothing: on start, every upload still ``queued`` or ``processing`` is ingested again
(ingestion is idempotent). The worker has its own database connection; the request threads
never wait for it.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import uuid
from pathlib import Path

from citeline.config import Settings
from citeline.contracts import UploadRecord
from citeline.store.sql import SEARCHABLE

log = logging.getLogger("citeline.server")
_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


def safe_filename(name: str) -> str:
    """The last path component, with anything but letters, digits, ``.-_`` and spaces replaced."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _UNSAFE.sub("_", base).strip(". ") or "upload"
    return base[:120]


class UploadWorker:
    def __init__(self, settings: Settings, embedder, metrics=None):
        self.settings = settings
        self.embedder = embedder
        self.metrics = metrics
        self.root = settings.data_dir / "uploads"
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._store = None

    def start(self) -> None:
        from citeline.store import open_store

        self._store = open_store(self.settings)
        for up in reversed(self._store.list_uploads(status=["queued", "processing"], limit=10_000)):
            self._queue.put(up.id)
        self._thread = threading.Thread(target=self._loop, name="citeline-uploads", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout_s)
            self._thread = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def save(self, store, *, tenant: str, key_id: str, filename: str, data_path: Path, size: int,
             acl: list[str]) -> UploadRecord:
        """Move a received file into place and queue it; returns the ``queued`` record."""
        upload_id = uuid.uuid4().hex[:16]
        folder = self.root / tenant / upload_id
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / safe_filename(filename)
        data_path.replace(target)
        up = UploadRecord(id=upload_id, tenant=tenant, filename=filename[:200], path=str(target.resolve()),
                          size_bytes=size, acl=acl, status="queued", key_id=key_id)
        store.put_upload(up)
        self._queue.put(upload_id)
        return up

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Block until every queued upload is processed (tests, ``make demo``)."""
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout_s)

    # ------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            upload_id = self._queue.get()
            try:
                if upload_id is None:
                    return
                self._process(upload_id)
            except Exception:  # never let one upload stop the worker
                log.exception("upload %s failed", upload_id)
            finally:
                self._queue.task_done()

    def _process(self, upload_id: str) -> None:
        from citeline.ingest.pipeline import IngestPipeline

        store = self._store
        up = store.get_upload(upload_id, tenant=None)
        if up is None or up.status not in ("queued", "processing"):
            return
        store.update_upload(up.id, status="processing")
        try:
            IngestPipeline(self.settings, store, self.embedder).run([up.path], acl=up.acl, tenant=up.tenant)
            doc = store.find_document(up.tenant, up.path)
        except Exception as e:
            store.update_upload(up.id, status="failed", error=f"ingestion failed: {' '.join(str(e).split())[:300]}")
            self._count("failed")
            return
        if doc is None:
            store.update_upload(up.id, status="failed", error="the file was not ingested (unsupported or vanished)")
            self._count("failed")
        elif doc.status in SEARCHABLE or doc.status == "needs_ocr":
            store.update_upload(up.id, status="done", document_id=doc.id, error=doc.error)
            self._count("done")
            self._count_flags(store, doc)
        else:
            store.update_upload(up.id, status="failed", document_id=doc.id, error=doc.error or doc.status)
            self._count("failed")

    def _count_flags(self, store, doc) -> None:
        if self.metrics is None:
            return
        flags = store.chunk_flags([c.id for c in store.chunks_of(doc.id, tenant=doc.tenant)])
        for flag in flags.values():
            self.metrics.document_flags.labels(flag.rule, flag.action).inc()

    def _count(self, status: str) -> None:
        if self.metrics is not None:
            self.metrics.uploads.labels(status).inc()
