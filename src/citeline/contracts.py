"""The contracts every stage speaks. This file is the source of truth.

Stages talk to each other only through the Protocols and result dataclasses below; a new
backend (a PostgreSQL store, a different embedder) implements the Protocol and passes the
shared contract tests in ``tests/``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

BlockKind = Literal["heading", "paragraph", "list", "table", "code"]
DocStatus = Literal["ok", "partial", "needs_ocr", "failed", "stale"]

#: ACL group that every principal of a tenant belongs to.
EVERYONE = "everyone"


# ---------------------------------------------------------------- extraction


@dataclass(frozen=True, slots=True)
class Block:
    """A structural unit of a page: ``page.text[start:end] == text``."""

    kind: BlockKind
    start: int
    end: int
    level: int = 0  # heading level (1 = top); 0 for non-headings


@dataclass(slots=True)
class Page:
    number: int  # 1-based
    text: str
    blocks: list[Block]
    needs_ocr: bool = False
    ocr: bool = False  # text came from OCR


@dataclass(slots=True)
class ExtractedDocument:
    doc_type: str  # pdf | docx | html | markdown | text | csv
    title: str
    pages: list[Page]
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class Extractor(Protocol):
    """Turns the bytes of one file into pages of text with structural blocks."""

    doc_type: str

    def extract(self, data: bytes, *, name: str, password: str | None = None) -> ExtractedDocument: ...


# ---------------------------------------------------------------- chunks & documents


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable passage: ``pages[page].text[start:end] == text``."""

    id: str  # hash of document id, position and text
    document_id: str
    ordinal: int
    page: int
    start: int
    end: int
    heading_path: str  # "Warranty > Exclusions"
    text: str
    text_hash: str  # hash of text alone: the embedding cache key


@dataclass(slots=True)
class DocumentRecord:
    id: str
    tenant: str
    source_uri: str
    status: DocStatus
    content_hash: str | None = None
    title: str | None = None
    doc_type: str | None = None
    page_count: int = 0
    chunk_count: int = 0
    size_bytes: int | None = None
    mtime: float | None = None
    acl: list[str] = field(default_factory=lambda: [EVERYONE])
    metadata: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    run_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "source_path": self.source_uri,
            "status": self.status,
            "title": self.title,
            "type": self.doc_type,
            "pages": self.page_count,
            "chunks": self.chunk_count,
            "acl": self.acl,
            "content_hash": self.content_hash,
            "error": self.error,
            "updated_at": self.updated_at,
        }


@dataclass(slots=True)
class IngestRun:
    id: str
    started_at: str
    status: Literal["running", "finished", "interrupted", "failed"]
    config_hash: str
    finished_at: str | None = None
    args: dict = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "config_hash": self.config_hash,
            "args": self.args,
            **self.counts,
        }


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a tenant and the ACL groups they belong to."""

    tenant: str
    groups: tuple[str, ...] = (EVERYONE,)


@dataclass(frozen=True, slots=True)
class KeywordFeedback:
    """Pseudo-relevance feedback for keyword search (RM3-like): the top ``docs`` hits of the question
    lend their ``terms`` most distinctive words (tf x idf) to a second query, in which the question's
    own words weigh ``weight`` and the added words share the rest."""

    docs: int = 5
    terms: int = 20
    weight: float = 0.5


@dataclass(slots=True)
class SearchHit:
    chunk_id: str
    document_id: str
    title: str | None
    source_uri: str
    page: int
    start: int
    end: int
    heading_path: str
    text: str
    score: float
    rowid: int = 0
    text_hash: str = ""


# ---------------------------------------------------------------- access, traces, feedback

Role = Literal["admin", "member"]
UploadStatus = Literal["queued", "processing", "done", "failed"]


@dataclass(slots=True)
class ApiKeyRecord:
    """An API key as stored: the secret itself is never kept, only its hash."""

    id: str
    tenant: str
    role: Role
    groups: list[str]
    name: str = ""
    created_at: str | None = None
    last_used_at: str | None = None
    revoked_at: str | None = None

    @property
    def principal(self) -> Principal:
        return Principal(tenant=self.tenant, groups=tuple(self.groups))

    def to_json(self) -> dict:
        return {"id": self.id, "tenant": self.tenant, "role": self.role, "groups": self.groups, "name": self.name,
                "created_at": self.created_at, "last_used_at": self.last_used_at, "revoked_at": self.revoked_at}


@dataclass(slots=True)
class TraceRecord:
    """One answered request: what it used, what it said, how long each stage took."""

    id: str
    tenant: str
    key_id: str | None
    groups: list[str]
    route: str
    question: str
    answer: str
    decision: str
    created_at: str
    config_hash: str
    response: dict  # the full AnswerResponse as JSON
    reason: str | None = None
    confidence: float = 0.0
    answerer: str = "extractive"
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float = 0.0
    feedback: list[dict] = field(default_factory=list)

    def to_json(self, *, full: bool = True) -> dict:
        data = {
            "id": self.id, "tenant": self.tenant, "key_id": self.key_id, "groups": self.groups, "route": self.route,
            "question": self.question, "answer": self.answer, "decision": self.decision, "reason": self.reason,
            "confidence": self.confidence, "answerer": self.answerer, "model": self.model,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd, "latency_ms": self.latency_ms, "config_hash": self.config_hash,
            "created_at": self.created_at, "feedback": self.feedback,
        }
        if full:
            data["response"] = self.response
        return data


@dataclass(slots=True)
class UploadRecord:
    id: str
    tenant: str
    filename: str
    path: str
    size_bytes: int
    acl: list[str]
    status: UploadStatus
    key_id: str | None = None
    document_id: str | None = None
    error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    def to_json(self) -> dict:
        return {"id": self.id, "filename": self.filename, "size_bytes": self.size_bytes, "acl": self.acl,
                "status": self.status, "document_id": self.document_id, "error": self.error,
                "created_at": self.created_at, "updated_at": self.updated_at}


# ---------------------------------------------------------------- evaluation

EvalStatus = Literal["running", "interrupted", "done", "failed"]


@dataclass(slots=True, frozen=True)
class MetricResult:
    """One metric on one example. ``value`` is None when the metric does not apply to it
    (no reference answer, no expected sources, a judge reply that could not be parsed)."""

    value: float | None
    reason: str = ""


@dataclass(slots=True)
class EvalRunRecord:
    """A stored evaluation run; its per-example results live beside it."""

    id: str
    tenant: str
    dataset_name: str
    dataset_hash: str
    config_hash: str
    status: EvalStatus
    created_at: str
    label: str = ""
    repeats: int = 1
    n_examples: int = 0
    settings: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    error: str | None = None
    finished_at: str | None = None
    owner: str | None = None  # while running: the process running it (host, pid, start time; JSON)

    def to_json(self) -> dict:
        return {"id": self.id, "tenant": self.tenant, "dataset": self.dataset_name, "dataset_hash": self.dataset_hash,
                "config_hash": self.config_hash, "label": self.label, "status": self.status,
                "repeats": self.repeats, "n_examples": self.n_examples, "created_at": self.created_at,
                "finished_at": self.finished_at, "error": self.error, "summary": self.summary}


# ---------------------------------------------------------------- guards

GuardStage = Literal["input", "output", "document"]
GuardVerdictKind = Literal["allow", "flag", "block", "redact"]
GuardMode = Literal["enforce", "shadow"]


@dataclass(slots=True)
class GuardVerdict:
    """What one guard decided about one text: which rule fired, its score against which threshold,
    and what was done about it (``action``: ``none``, ``blocked``, ``redacted``, ``flagged``,
    ``quarantined``, or ``logged`` when the guard runs in shadow mode and only records)."""

    guard: str
    verdict: GuardVerdictKind = "allow"
    score: float = 0.0
    threshold: float | None = None
    rule: str | None = None
    action: str = "none"
    mode: GuardMode = "enforce"
    stage: GuardStage = "input"
    detail: str | None = None
    latency_ms: float = 0.0

    @property
    def enforced(self) -> bool:
        """True when this verdict changes the outcome (an enforced block, redaction or flag)."""
        return self.mode == "enforce" and self.verdict != "allow"

    def to_json(self) -> dict:
        return {"guard": self.guard, "verdict": self.verdict, "score": round(self.score, 4),
                "threshold": self.threshold, "rule": self.rule, "action": self.action, "mode": self.mode,
                "stage": self.stage, "detail": self.detail, "latency_ms": round(self.latency_ms, 3)}


@dataclass(frozen=True, slots=True)
class ChunkFlag:
    """A document chunk a guard found suspicious at ingest (embedded instructions, hidden text…)."""

    chunk_id: str
    document_id: str
    rule: str
    score: float
    action: Literal["flag", "quarantine"]
    detail: str = ""


# ---------------------------------------------------------------- protocols


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def warm_up(self) -> None: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return float32 L2-normalised vectors, shape (len(texts), dim)."""
        ...


@runtime_checkable
class Store(Protocol):
    """Documents, pages, chunks, keyword index, vectors and ingestion runs."""

    def close(self) -> None: ...

    # documents
    def get_document(self, doc_id: str, *, tenant: str) -> DocumentRecord | None: ...
    def find_document(self, tenant: str, source_uri: str) -> DocumentRecord | None: ...
    def list_documents(
        self, tenant: str, *, status: Sequence[str] | None = None, limit: int | None = None
    ) -> list[DocumentRecord]: ...
    def document_index(self, tenant: str) -> dict[str, DocumentRecord]: ...
    def replace_document(self, doc: DocumentRecord, pages: Sequence[Page], chunks: Sequence[Chunk]) -> None: ...
    def mark_failed(self, doc: DocumentRecord) -> DocumentRecord: ...
    def touch_document(self, doc_id: str, *, mtime: float | None, size: int | None, acl: list[str], run_id: str) -> None: ...
    def delete_document(self, doc_id: str, *, tenant: str) -> bool: ...

    # pages & chunks
    def get_page(self, doc_id: str, page: int, *, tenant: str) -> Page | None: ...
    def chunks_of(self, doc_id: str, *, tenant: str) -> list[Chunk]: ...
    def count_chunks(self, tenant: str | None = None) -> int: ...

    # keyword search (permission filter inside the query)
    def keyword_search(self, query: str, principal: Principal, k: int = 10, *,
                       feedback: KeywordFeedback | None = None) -> list[SearchHit]: ...
    def warm_up(self) -> None: ...  # build in-memory search indexes now, not on the first query

    # vectors
    def pending_embeddings(self, model: str, after_rowid: int, limit: int) -> list[tuple[int, str, str]]: ...
    def count_pending_embeddings(self, model: str) -> int: ...
    def put_embeddings(self, model: str, items: Sequence[tuple[str, np.ndarray]]) -> None: ...

    # runs
    def start_run(self, config_hash: str, args: dict) -> IngestRun: ...
    def finish_run(self, run_id: str, status: str, counts: dict[str, int]) -> None: ...
    def list_runs(self, limit: int = 20) -> list[IngestRun]: ...

    # schema
    def schema_version(self) -> int: ...


@runtime_checkable
class Metric(Protocol):
    """Every evaluator has this one shape; ``higher_is_better`` tells comparisons which way is worse."""

    name: str
    higher_is_better: bool

    def score(self, example, output) -> MetricResult: ...


@runtime_checkable
class Guard(Protocol):
    """Checks one text (a question, an answer, a chunk) against a policy. Never raises on odd
    input; the runner turns an exception into a fail-closed ``block`` verdict anyway."""

    name: str
    stage: GuardStage

    def check(self, text: str, *, principal: Principal | None = None) -> GuardVerdict: ...
