"""What runs in an extraction worker process: read, hash, extract, chunk — one file."""

from __future__ import annotations

import hashlib
import os
import resource
from dataclasses import dataclass

from citeline.config import ChunkSettings
from citeline.contracts import Chunk, ExtractedDocument
from citeline.errors import ExtractionError, FileTooLargeError
from citeline.ingest.chunk import StructuredChunker
from citeline.ingest.extract import PdfOptions, extractor_for


@dataclass(slots=True)
class FileTask:
    path: str
    doc_id: str
    max_bytes: int
    pdf: PdfOptions
    chunking: ChunkSettings


@dataclass(slots=True)
class FileResult:
    content_hash: str
    size: int
    mtime: float
    doc: ExtractedDocument
    chunks: list[Chunk]


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def limit_memory(max_bytes: int) -> None:
    """Pool initializer: cap the worker's address space at its start-up size plus ``max_bytes``,
    so one huge file fails with a clear reason instead of taking the machine."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = _vm_size() + max_bytes
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):
        pass


def read_snapshot(path: str, max_bytes: int) -> tuple[bytes, int, float]:
    """Read the whole file once; what we hash is exactly what we extract, even if it changes later."""
    try:
        st = os.stat(path)
        if st.st_size > max_bytes:
            raise FileTooLargeError(f"file is {st.st_size / 2**20:.0f} MB; the limit is {max_bytes / 2**20:.0f} MB"
                                    " (ingest.max_file_mb)")
        with open(path, "rb") as fh:
            data = fh.read(st.st_size + 1)  # read(n) preallocates n bytes: ask for what is there
            if len(data) > st.st_size:  # grew since stat: read on, up to the limit
                data += fh.read(max_bytes + 1 - len(data))
    except FileNotFoundError:
        raise ExtractionError("file disappeared before it could be read") from None
    except PermissionError:
        raise ExtractionError("permission denied") from None
    except IsADirectoryError:
        raise ExtractionError("is a directory") from None
    except OSError as e:
        raise ExtractionError(f"cannot read file: {e.strerror}") from None
    if len(data) > max_bytes:
        raise FileTooLargeError(f"file grew past the {max_bytes / 2**20:.0f} MB limit while being read")
    return data, len(data), st.st_mtime


def process_file(task: FileTask) -> FileResult:
    data, size, mtime = read_snapshot(task.path, task.max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    try:
        doc = extractor_for(task.path, task.pdf).extract(data, name=task.path)
    except MemoryError:
        raise ExtractionError("out of memory while extracting (ingest.worker_memory_mb)") from None
    except ExtractionError:
        raise
    except Exception as e:  # a parser bug on a hostile file must not kill the batch
        raise ExtractionError(f"extraction failed: {type(e).__name__}: {str(e)[:200]}") from None
    chunks = StructuredChunker(task.chunking).chunk(task.doc_id, doc.pages)
    return FileResult(content_hash=digest, size=size, mtime=mtime, doc=doc, chunks=chunks)
