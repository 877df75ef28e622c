"""The JSON API under ``/api``: ask, search, documents, feedback, traces; plus /healthz and /metrics.

Every read is permission-filtered in the store query; another tenant's (or an unreadable)
document or trace is a 404 with the same message as one that does not exist.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from citeline.answer.response import AnswerResponse
from citeline.errors import NotFoundError, PayloadTooLargeError, UnsupportedMediaError
from citeline.server.auth import Caller, require_admin
from citeline.server.tracing import record_answer

router = APIRouter()


def state(request: Request):
    return request.app.state.citeline


def caller(request: Request) -> Caller:
    return state(request).auth.authenticate(request)


def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
    return require_admin(who)


CallerDep = Annotated[Caller, Depends(caller)]
AdminDep = Annotated[Caller, Depends(admin)]


# ---------------------------------------------------------------- models


class AskRequest(BaseModel):
    question: str = Field(max_length=100_000, description="Questions over 2,000 characters are declined.")
    stream: bool = Field(False, description="Answer as server-sent events (also when Accept: text/event-stream).")
    llm: bool = Field(False, description="Answer with the configured language model; the extractive answer is the "
                                         "fallback. Ignored when no model is configured.")


class Hit(BaseModel):
    chunk_id: str
    document_id: str
    title: str | None
    source_path: str
    page: int
    start: int
    end: int
    heading_path: str
    score: float
    text: str


class SearchResponse(BaseModel):
    query: str
    hits: list[Hit]


class FeedbackRequest(BaseModel):
    trace_id: str = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=4000)


class FeedbackResponse(BaseModel):
    trace_id: str
    rating: Literal["up", "down"]
    stored: bool = True


class Me(BaseModel):
    key_id: str
    name: str
    tenant: str
    role: str
    groups: list[str]


# ---------------------------------------------------------------- service routes


@router.get("/healthz", tags=["service"])
def healthz(request: Request) -> dict:
    """Liveness and readiness; the only route that needs no credentials."""
    st = getattr(request.app.state, "citeline", None)
    return {"status": "ok" if st is not None else "starting"}


@router.get("/metrics", tags=["service"], response_class=Response)
def metrics(request: Request, who: AdminDep) -> Response:
    """Prometheus metrics (admin key): requests, latency per route and stage, decisions, feedback."""
    m = request.app.state.metrics
    return Response(m.render(), media_type=m.content_type)


@router.get("/api/me", tags=["service"])
def me(who: CallerDep) -> Me:
    return Me(key_id=who.key.id, name=who.key.name, tenant=who.tenant, role=who.key.role, groups=who.key.groups)


# ---------------------------------------------------------------- ask & search


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/api/ask", tags=["answers"], response_model=AnswerResponse)
def ask(body: AskRequest, request: Request, who: CallerDep):
    """Answer from the documents the caller may read, with citations, or decline.

    With ``stream`` (or ``Accept: text/event-stream``) the answer comes as server-sent events:
    ``delta`` events while a model writes, then one ``final`` event with the whole response.
    """
    st = state(request)
    use_llm = body.llm and st.service.llm is not None
    if body.stream or "text/event-stream" in request.headers.get("accept", ""):
        def events():
            for event in st.service.ask_stream(body.question, who.principal, use_llm=use_llm):
                if event["type"] == "delta":
                    yield _sse("delta", {"text": event["text"]})
                else:
                    response = record_answer(st, who, "/api/ask", event["response"])
                    yield _sse("final", response.model_dump(mode="json"))

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    response = st.service.ask(body.question, who.principal, use_llm=use_llm)
    return record_answer(st, who, "/api/ask", response)


@router.get("/api/search", tags=["answers"])
def search(request: Request, who: CallerDep, q: Annotated[str, Query(max_length=2000)],
           k: Annotated[int, Query(ge=1, le=50)] = 8) -> SearchResponse:
    """Hybrid search (BM25 + vectors, reranked) over the chunks the caller may read."""
    from citeline.answer.service import clean_question

    query = clean_question(q)
    if not query:
        return SearchResponse(query=q, hits=[])
    got = state(request).service.retriever.retrieve(query, who.principal, k=k)
    return SearchResponse(query=query, hits=[
        Hit(chunk_id=h.chunk_id, document_id=h.document_id, title=h.title, source_path=h.source_uri, page=h.page,
            start=h.start, end=h.end, heading_path=h.heading_path, score=round(h.score, 5), text=h.text)
        for h in got.hits])


# ---------------------------------------------------------------- documents


def _not_found(what: str, ident: str) -> NotFoundError:
    return NotFoundError(f"no {what} {ident!r}")


@router.get("/api/documents", tags=["documents"])
def list_documents(request: Request, who: CallerDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                   offset: Annotated[int, Query(ge=0)] = 0) -> dict:
    """Documents the caller may read (admins: every document of the tenant, failures included)."""
    store = state(request).store
    if who.is_admin:
        docs = store.list_documents(who.tenant)[offset: offset + limit]
    else:
        docs = store.readable_documents(who.principal, limit=limit, offset=offset)
    items = [d.to_json() for d in docs]
    if not who.is_admin:
        for item in items:
            item.pop("acl", None)
    return {"documents": items}


@router.get("/api/documents/{doc_id}", tags=["documents"])
def get_document(doc_id: str, request: Request, who: CallerDep) -> dict:
    doc = state(request).store.readable_document(doc_id, who.principal)
    if doc is None:
        raise _not_found("document", doc_id)
    data = doc.to_json()
    if not who.is_admin:
        data.pop("acl", None)
    return data


@router.get("/api/documents/{doc_id}/pages/{page}", tags=["documents"])
def get_page(doc_id: str, page: int, request: Request, who: CallerDep) -> dict:
    """The text of one page (what citations' offsets point into)."""
    st = state(request)
    found = st.store.readable_page(doc_id, page, who.principal)
    if found is None:
        raise _not_found("page", f"{doc_id}/{page}")
    doc = st.store.readable_document(doc_id, who.principal)
    return {"document_id": doc_id, "title": doc.title if doc else None, "page": found.number,
            "pages": doc.page_count if doc else None, "text": found.text, "ocr": found.ocr,
            "needs_ocr": found.needs_ocr}


@router.delete("/api/documents/{doc_id}", tags=["documents"], status_code=204)
def delete_document(doc_id: str, request: Request, who: AdminDep) -> Response:
    if not state(request).store.delete_document(doc_id, tenant=who.tenant):
        raise _not_found("document", doc_id)
    return Response(status_code=204)


@router.post("/api/documents", tags=["documents"], status_code=202)
async def upload_document(request: Request, who: AdminDep,
                          file: Annotated[UploadFile, File(description="PDF, DOCX, HTML, Markdown, TXT or CSV")],
                          acl: Annotated[str, Form(description="Comma-separated groups that may read it")] = "everyone",
                          ) -> dict:
    """Upload a document (admin key). It is saved, then ingested in the background: poll
    ``GET /api/uploads/{id}`` for its status."""
    st = state(request)
    name = file.filename or "upload"
    suffix = Path(name).suffix.lower()
    allowed = st.settings.ingest.include
    if suffix not in allowed:
        raise UnsupportedMediaError(f"unsupported file type {suffix or '(none)'!r}; allowed: {', '.join(allowed)}")
    groups = sorted({g.strip() for g in acl.split(",") if g.strip()}) or ["everyone"]
    if any(len(g) > 64 for g in groups) or len(groups) > 64:
        raise UnsupportedMediaError("acl: at most 64 groups of at most 64 characters")
    tmp_dir = st.settings.data_dir / "uploads" / ".incoming"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir)
    size, limit = 0, int(st.settings.server.max_upload_mb * 1024 * 1024)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await file.read(1024 * 1024):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(f"upload is larger than the limit of "
                                               f"{st.settings.server.max_upload_mb:g} MB")
                out.write(chunk)
        if size == 0:
            raise UnsupportedMediaError("the uploaded file is empty")
        up = st.uploads.save(st.store, tenant=who.tenant, key_id=who.key.id, filename=name, data_path=Path(tmp),
                             size=size, acl=groups)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return up.to_json()


@router.get("/api/uploads", tags=["documents"])
def list_uploads(request: Request, who: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    return {"uploads": [u.to_json() for u in state(request).store.list_uploads(tenant=who.tenant, limit=limit)]}


@router.get("/api/uploads/{upload_id}", tags=["documents"])
def get_upload(upload_id: str, request: Request, who: AdminDep) -> dict:
    up = state(request).store.get_upload(upload_id, tenant=who.tenant)
    if up is None:
        raise _not_found("upload", upload_id)
    return up.to_json()


# ---------------------------------------------------------------- feedback & traces


@router.post("/api/feedback", tags=["feedback"])
def feedback(body: FeedbackRequest, request: Request, who: CallerDep) -> FeedbackResponse:
    """Thumbs up or down (with an optional comment) on an answer, by its ``trace_id``."""
    st = state(request)
    if not st.store.put_feedback(body.trace_id, who.key, rating=1 if body.rating == "up" else -1,
                                 comment=(body.comment or "").strip() or None):
        raise _not_found("trace", body.trace_id)
    st.metrics.feedback.labels(body.rating).inc()
    return FeedbackResponse(trace_id=body.trace_id, rating=body.rating)


@router.get("/api/traces", tags=["traces"])
def list_traces(request: Request, who: CallerDep,
                decision: Annotated[Literal["answered", "declined", "blocked", "fallback"] | None, Query()] = None,
                rating: Annotated[Literal["up", "down"] | None, Query()] = None,
                since: Annotated[str | None, Query(max_length=40, description="ISO date or time, UTC")] = None,
                until: Annotated[str | None, Query(max_length=40)] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                offset: Annotated[int, Query(ge=0)] = 0) -> dict:
    """Traces the caller may see: its own (members) or all of its tenant (admins), newest first."""
    traces = state(request).store.list_traces(
        who.key, decision=decision, rating=None if rating is None else (1 if rating == "up" else -1),
        since=since, until=until, limit=limit, offset=offset)
    return {"traces": [t.to_json(full=False) for t in traces]}


@router.get("/api/traces/{trace_id}", tags=["traces"])
def get_trace(trace_id: str, request: Request, who: CallerDep) -> dict:
    trace = state(request).store.get_trace(trace_id, who.key)
    if trace is None:
        raise _not_found("trace", trace_id)
    return trace.to_json()


@router.get("/api/evals", tags=["evaluation"])
def list_evals(request: Request, who: AdminDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict:
    """Stored evaluation runs of the caller's tenant, newest first (admins)."""
    runs = state(request).store.list_eval_runs(who.tenant, limit)
    return {"runs": [r.to_json() | {"summary": None} for r in runs]}


@router.get("/api/evals/{run_id}", tags=["evaluation"])
def get_eval(run_id: str, request: Request, who: AdminDep) -> dict:
    """One run with its summary: every metric's mean and 95% interval, declines, decisions."""
    run = state(request).store.get_eval_run(run_id, who.tenant)
    if run is None:
        raise _not_found("evaluation run", run_id)
    return run.to_json()
