"""A first extractive answerer: the sentences of the best keyword hits that most resemble the
question (MiniLM cosine when vectors are available, term overlap otherwise), each cited with
document, page and exact character offsets. Declines when nothing resembles the question.

Issue #3 replaces this with hybrid retrieval, reranking and a decline threshold tuned on data.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from citeline.config import Settings
from citeline.contracts import Principal
from citeline.ingest.sentences import sentence_spans

_STOP = set(
    "a an the of to in on for and or is are was were be been it its this that these those what which who whom how"
    " when where why do does did can could should would will with by from at as about into my our your their i we"
    " you they he she me us them there here if not no yes any all some than then so".split()
)
_TOKEN = re.compile(r"[a-z0-9]+")
DECLINE_MESSAGE = "I couldn't find this in the documents you can access, so I won't guess."


@dataclass(slots=True)
class Citation:
    n: int
    document_id: str
    title: str | None
    source_uri: str
    page: int
    quote: str
    start: int  # offsets in the page text
    end: int
    score: float


@dataclass(slots=True)
class AnswerResult:
    question: str
    answer: str
    decision: str  # answered | declined
    confidence: float
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def _terms(text: str) -> set[str]:
    return {t for t in _TOKEN.findall(text.lower()) if t not in _STOP and len(t) > 1}


def answer_question(question: str, store, principal: Principal, settings: Settings, *, embedder=None,
                    k: int = 8, max_sentences: int = 2, min_confidence: float = 0.45) -> AnswerResult:
    t0 = time.perf_counter()
    hits = store.keyword_search(question, principal, k=k)
    t_search = time.perf_counter()
    q_terms = _terms(question)
    candidates = []  # (hit, start_in_chunk, end_in_chunk, text)
    for hit in hits:
        for a, b in sentence_spans(hit.text):
            sent = hit.text[a:b]
            if 3 <= len(sent.split()) <= 80:
                candidates.append((hit, a, b, sent))
    if not candidates or not q_terms:
        return AnswerResult(question, DECLINE_MESSAGE, "declined", 0.0, timings_ms=_ms(t0, t_search))
    overlap = np.array([len(q_terms & _terms(c[3])) / len(q_terms) for c in candidates], dtype=np.float32)
    if embedder is None:
        try:
            from citeline.ingest.embed import OnnxMiniLMEmbedder

            embedder = OnnxMiniLMEmbedder(settings.embedding)
            embedder.warm_up()
        except Exception:
            embedder = None
    if embedder is not None:
        vecs = embedder.embed([question] + [c[3] for c in candidates])
        cos = vecs[1:] @ vecs[0]
        scores = 0.7 * cos + 0.3 * overlap
    else:
        scores = overlap
    order = np.argsort(-scores)
    best = float(scores[order[0]])
    if best < min_confidence:
        return AnswerResult(question, DECLINE_MESSAGE, "declined", best, timings_ms=_ms(t0, t_search))
    chosen = [i for i in order[:max_sentences] if scores[i] >= max(min_confidence, best - 0.1)]
    citations = []
    parts = []
    for n, i in enumerate(chosen, 1):
        hit, a, b, sent = candidates[i]
        citations.append(Citation(n, hit.document_id, hit.title, hit.source_uri, hit.page, sent,
                                  hit.start + a, hit.start + b, round(float(scores[i]), 4)))
        parts.append(f"{sent} [{n}]")
    return AnswerResult(question, " ".join(parts), "answered", round(best, 4), citations, _ms(t0, t_search))


def _ms(t0: float, t_search: float) -> dict[str, float]:
    end = time.perf_counter()
    return {"search": round((t_search - t0) * 1000, 2), "total": round((end - t0) * 1000, 2)}
