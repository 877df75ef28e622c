"""The ingestion pipeline: discover → extract + chunk (worker processes) → write → embed.

* Incremental: an unchanged file (size, mtime, then content hash) is skipped; a changed one is
  replaced in one transaction; ``sync=True`` removes documents whose files are gone.
* Robust: each file runs in a worker process with a timeout and a memory cap; any failure is
  stored on the document with a one-line reason and the batch goes on.
* Resumable: every document is committed as it completes, and embedding walks the chunks that
  have no vector yet, so a killed run continues where it stopped, with nothing duplicated.
* Chunks are keyword-searchable as soon as they are written; embedding runs in batches
  between writes and catches up at the end.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from citeline.config import Settings
from citeline.contracts import EVERYONE, DocumentRecord, Embedder, Store
from citeline.errors import CitelineError
from citeline.ingest.discover import FileEntry, FileProblem, discover
from citeline.ingest.extract import PdfOptions
from citeline.ingest.worker import FileResult, FileTask, limit_memory, process_file
from citeline.store.sql import document_id


class Progress:
    """Callbacks the pipeline reports to; the CLI draws them with rich. Defaults do nothing."""

    def files_total(self, n: int) -> None: ...
    def file_done(self, path: str, status: str, pages: int, chunks: int) -> None: ...
    def embed_total(self, n: int) -> None: ...
    def embedded(self, n: int) -> None: ...


@dataclass(slots=True)
class IngestReport:
    run_id: str
    counts: dict[str, int]
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            **self.counts,
            "failures": [{"source_path": p, "error": r} for p, r in self.failures],
            "warnings": [{"source_path": p, "warning": w} for p, w in self.warnings],
        }


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(str(text).split())[:limit] or "unknown error"


class IngestPipeline:
    def __init__(self, settings: Settings, store: Store, embedder: Embedder | None = None,
                 progress: Progress | None = None):
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.progress = progress or Progress()
        self._scanner = None  # the document guard, built on first write

    def _scan(self, doc_id: str, chunks) -> None:
        """Document guard: flag (or quarantine) chunks carrying embedded instructions or hidden text."""
        if not self.settings.guard.enabled:
            return
        if self._scanner is None:
            from citeline.guard.documents import DocumentScanner
            from citeline.guard.policy import load_policy

            self._scanner = DocumentScanner(load_policy(self.settings.guard.policy))
        policy = self._scanner.policy.documents
        if policy.mode == "off":
            return
        flags = self._scanner.scan(chunks)
        if policy.mode == "shadow":  # recorded and shown in traces, never enforced
            flags = [dataclasses.replace(f, action="flag") for f in flags]
        if flags:
            self.store.put_chunk_flags(doc_id, flags)

    # ------------------------------------------------------------------------------------
    def run(self, paths: Sequence[str], *, acl: Sequence[str] | None = None, tenant: str | None = None,
            password: str | None = None, sync: bool = False, retry_failed: bool = False,
            embed: bool = True) -> IngestReport:
        s = self.settings
        tenant = tenant or s.tenant
        groups = sorted({g.strip() for g in (acl or [EVERYONE]) if g.strip()}) or [EVERYONE]
        args = {"paths": list(paths), "acl": groups, "tenant": tenant, "sync": sync, "embed": embed,
                "password": "***" if password else None}
        run = self.store.start_run(s.config_hash(), args)
        counts = dict.fromkeys(
            ("files_seen", "new", "updated", "unchanged", "failed", "removed", "pages", "chunks", "embedded"), 0)
        report = IngestReport(run_id=run.id, counts=counts)
        t0 = time.perf_counter()
        try:
            self._ingest(paths, groups, tenant, password, sync, retry_failed, run.id, report, embed)
            if embed and self.embedder is not None:
                self.embed_pending(report)
        except KeyboardInterrupt:
            report.interrupted = True
            self.store.finish_run(run.id, "interrupted", counts)
            raise
        report.seconds = time.perf_counter() - t0
        self.store.finish_run(run.id, "finished", counts)
        return report

    # ------------------------------------------------------------------------------------
    def _ingest(self, paths, groups, tenant, password, sync, retry_failed, run_id, report: IngestReport,
                embed: bool = True) -> None:
        s = self.settings.ingest
        counts = report.counts
        known = self.store.document_index(tenant)
        todo: list[FileEntry] = []
        seen: set[str] = set()
        unreadable_dirs: list[str] = []
        for item in discover(paths, s.include):
            if isinstance(item, FileProblem):
                if item.is_file:
                    seen.add(item.path)
                    counts["files_seen"] += 1
                    self._fail(item.path, tenant, groups, run_id, item.reason, report)
                else:
                    unreadable_dirs.append(item.path)
                    report.warnings.append((item.path, item.reason))
                continue
            counts["files_seen"] += 1
            seen.add(item.path)
            old = known.get(item.path)
            if old is not None and old.size_bytes == item.size and old.mtime == item.mtime and (
                old.status in ("ok", "partial", "needs_ocr") or (old.status == "failed" and not retry_failed
                                                                and not password)):
                counts["unchanged"] += 1
                if sorted(old.acl) != groups:
                    self.store.touch_document(old.id, mtime=item.mtime, size=item.size, acl=groups, run_id=run_id)
                continue
            todo.append(item)
        self.progress.files_total(len(todo))

        if todo:
            self._extract_all(todo, known, groups, tenant, password, run_id, report, embed)

        if sync:
            roots = [os.path.abspath(os.path.expanduser(p)) for p in paths]
            for uri, doc in known.items():
                under = any(uri == r or uri.startswith(r.rstrip(os.sep) + os.sep) for r in roots)
                blocked = any(uri.startswith(d.rstrip(os.sep) + os.sep) for d in unreadable_dirs)
                if under and not blocked and uri not in seen:
                    if self.store.delete_document(doc.id, tenant=tenant):
                        counts["removed"] += 1

    def _extract_all(self, todo, known, groups, tenant, password, run_id, report, embed: bool = True) -> None:
        from pebble import ProcessExpired, ProcessPool

        s = self.settings
        workers = s.ingest.workers or max(1, min(os.cpu_count() or 1, len(todo)))
        pdf = PdfOptions(password=password, ocr=s.ingest.ocr, ocr_dpi=s.ingest.ocr_dpi,
                         ocr_max_pages=s.ingest.ocr_max_pages)
        max_bytes = int(s.ingest.max_file_mb * 2**20)
        window = workers * 4
        queue = list(reversed(todo))
        inflight: dict[cf.Future, FileEntry] = {}
        embed_live = embed and self.embedder is not None
        # spawn, not fork: a forked child would inherit the embedder's threads and address space
        with ProcessPool(max_workers=workers, max_tasks=500, initializer=limit_memory,
                         initargs=(s.ingest.worker_memory_mb * 2**20,),
                         context=multiprocessing.get_context("spawn")) as pool:
            try:
                while queue or inflight:
                    while queue and len(inflight) < window:
                        entry = queue.pop()
                        task = FileTask(path=entry.path, doc_id=document_id(tenant, entry.path), max_bytes=max_bytes,
                                        pdf=pdf, chunking=s.chunking)
                        inflight[pool.schedule(process_file, args=(task,), timeout=s.ingest.file_timeout_s)] = entry
                    done = [f for f in inflight if f.done()]
                    if not done:
                        if embed_live and self._embed_batch(report):
                            continue
                        cf.wait(list(inflight), timeout=0.2, return_when=cf.FIRST_COMPLETED)
                        continue
                    for fut in done:
                        entry = inflight.pop(fut)
                        try:
                            result: FileResult = fut.result()
                        except cf.TimeoutError:
                            self._fail(entry.path, tenant, groups, run_id,
                                       f"timed out after {s.ingest.file_timeout_s:.0f} s (ingest.file_timeout_s)", report)
                        except ProcessExpired as e:
                            self._fail(entry.path, tenant, groups, run_id,
                                       f"extraction worker crashed (exit code {e.exitcode}); the file is likely malformed"
                                       " or needs more than ingest.worker_memory_mb", report)
                        except CitelineError as e:
                            self._fail(entry.path, tenant, groups, run_id, str(e), report)
                        except Exception as e:  # anything else the worker raised
                            self._fail(entry.path, tenant, groups, run_id, f"{type(e).__name__}: {e}", report)
                        else:
                            self._write(entry, result, known.get(entry.path), groups, tenant, run_id, report)
            except BaseException:
                pool.stop()
                raise

    def _write(self, entry: FileEntry, result: FileResult, old: DocumentRecord | None, groups, tenant, run_id,
               report: IngestReport) -> None:
        counts = report.counts
        doc_id = document_id(tenant, entry.path)
        if old is not None and old.content_hash == result.content_hash and old.status in ("ok", "partial", "needs_ocr"):
            self.store.touch_document(doc_id, mtime=result.mtime, size=result.size, acl=groups, run_id=run_id)
            counts["unchanged"] += 1
            self.progress.file_done(entry.path, "unchanged", 0, 0)
            return
        ex = result.doc
        need_ocr = sum(p.needs_ocr for p in ex.pages)
        if not result.chunks:
            status = "needs_ocr" if need_ocr else "ok"
        else:
            status = "partial" if need_ocr else "ok"
        meta = dict(ex.metadata)
        if ex.warnings:
            meta["warnings"] = " | ".join(ex.warnings)[:1000]
        doc = DocumentRecord(
            id=doc_id, tenant=tenant, source_uri=entry.path, status=status, content_hash=result.content_hash,
            title=ex.title, doc_type=ex.doc_type, size_bytes=result.size, mtime=result.mtime, acl=list(groups),
            metadata=meta, error="; ".join(ex.warnings)[:500] or None if status != "ok" else None, run_id=run_id,
            created_at=old.created_at if old else None,
        )
        self.store.replace_document(doc, ex.pages, result.chunks)
        self._scan(doc_id, result.chunks)
        counts["updated" if old is not None else "new"] += 1
        counts["pages"] += len(ex.pages)
        counts["chunks"] += len(result.chunks)
        for w in ex.warnings:
            report.warnings.append((entry.path, w))
        self.progress.file_done(entry.path, status, len(ex.pages), len(result.chunks))

    def _fail(self, path: str, tenant: str, groups, run_id: str, reason: str, report: IngestReport) -> None:
        reason = _one_line(reason)
        doc = DocumentRecord(id=document_id(tenant, path), tenant=tenant, source_uri=path, status="failed",
                             error=reason, acl=list(groups), run_id=run_id, title=os.path.basename(path),
                             doc_type=os.path.splitext(path)[1].lstrip(".").lower() or None)
        try:
            st = os.stat(path)
            doc.size_bytes, doc.mtime = st.st_size, st.st_mtime
        except OSError:
            pass
        self.store.mark_failed(doc)
        report.counts["failed"] += 1
        report.failures.append((path, reason))
        self.progress.file_done(path, "failed", 0, 0)

    # ------------------------------------------------------------------------------------
    _cursor: int = 0
    _embed_total_sent: bool = False

    def _embed_batch(self, report: IngestReport | None = None) -> int:
        """Embed one batch of chunks without vectors. Returns how many texts were embedded."""
        emb = self.embedder
        if emb is None:
            return 0
        bs = self.settings.embedding.batch_size
        rows = self.store.pending_embeddings(emb.name, self._cursor, bs)
        if not rows:
            return 0
        self._cursor = rows[-1][0]
        unique: dict[str, str] = {}
        for _, h, text in rows:
            unique.setdefault(h, text)
        vectors = emb.embed(list(unique.values()))
        self.store.put_embeddings(emb.name, list(zip(unique.keys(), vectors, strict=True)))
        if report is not None:
            report.counts["embedded"] += len(unique)
        self.progress.embedded(len(unique))
        return len(unique)

    def embed_pending(self, report: IngestReport | None = None,
                      on_total: Callable[[int], None] | None = None) -> int:
        """Embed every chunk that has no vector yet (resumes a killed run)."""
        if self.embedder is None:
            return 0
        self.embedder.warm_up()
        pending = self.store.count_pending_embeddings(self.embedder.name)
        self.progress.embed_total(pending + (report.counts["embedded"] if report else 0))
        self._cursor = 0
        total = 0
        while n := self._embed_batch(report):
            total += n
        return total
