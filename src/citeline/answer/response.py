"""The one response model shared by the CLI, the HTTP API and evaluations."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from citeline.contracts import GuardVerdict

Decision = Literal["answered", "declined", "blocked", "fallback"]


class Citation(BaseModel):
    n: int = Field(description="The [n] marker in the answer text.")
    document_id: str
    title: str | None = None
    source_path: str
    page: int
    quote: str = Field(description="Exact text of the page between start and end.")
    start: int = Field(description="Character offset of the quote in the page text.")
    end: int
    score: float = 0.0


class RetrievedChunk(BaseModel):
    chunk_id: str
    document_id: str
    page: int
    score: float
    flagged: str | None = Field(None, description="Rule of the document guard that flagged this chunk at ingest; a "
                                                  "flagged chunk is never given to a model nor quoted.")


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class AnswerResponse(BaseModel):
    question: str
    answer: str
    decision: Decision
    confidence: float = Field(0.0, description="Support of the answer by the cited text, 0–1.")
    citations: list[Citation] = Field(default_factory=list)
    reason: str | None = Field(None, description="Why the answer was declined, blocked or fell back.")
    answerer: Literal["extractive", "llm"] = "extractive"
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    retrieved: list[RetrievedChunk] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    config_hash: str = ""
    trace_id: str | None = Field(None, description="Id of the stored trace (server answers); feedback refers to it.")
    guards: list[GuardVerdict] = Field(default_factory=list, description="Every guard decision on this request: "
                                       "guard, verdict, score, threshold, rule, action, mode.")
