"""Hybrid retrieval: BM25 (with pseudo-relevance feedback) + dense, fused by weighted RRF, then reranked by
sentence similarity and, optionally, by dense pseudo-relevance feedback.

Every stage is permission-filtered inside the store: keyword search filters in its query, the
dense index scores only blocks the principal may read, and the final chunk fetch re-checks
tenant and ACL in its query.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from citeline.config import Settings
from citeline.contracts import KeywordFeedback, Principal, SearchHit
from citeline.retrieve.dense import DenseIndex
from citeline.retrieve.fusion import rrf
from citeline.retrieve.rerank import SentenceVectors, best_sentence_scores

MAX_QUERY_CHARS = 2000


@dataclass(slots=True)
class Retrieved:
    hits: list[SearchHit]
    query_vec: np.ndarray | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    candidates: dict[str, int] = field(default_factory=dict)
    flags: dict = field(default_factory=dict)  # chunk id -> ChunkFlag of the document guard


class HybridRetriever:
    def __init__(self, settings: Settings, store, embedder=None):
        self.settings = settings
        self.store = store
        self.embedder = embedder
        cfg = settings.retrieval
        self.dense = DenseIndex(store, embedder.name, embedder.dim, exact_max=cfg.dense_exact_max,
                                oversample=cfg.dense_oversample, blas_threads=cfg.blas_threads) \
            if embedder is not None else None
        self.sentences = SentenceVectors(store, embedder) if embedder is not None else None

    def warm_up(self) -> None:
        self.store.warm_up()
        if self.embedder is not None:
            self.embedder.warm_up()
            self.dense.refresh()

    def retrieve(self, query: str, principal: Principal, k: int | None = None, *,
                 rerank: bool | None = None) -> Retrieved:
        cfg = self.settings.retrieval
        k = k or cfg.top_k
        query = query[:MAX_QUERY_CHARS]
        t = time.perf_counter()
        timings: dict[str, float] = {}

        def lap(name: str) -> None:
            nonlocal t
            now = time.perf_counter()
            timings[name] = round((now - t) * 1000, 3)
            t = now

        feedback = KeywordFeedback(cfg.keyword_feedback_docs, cfg.keyword_feedback_terms,
                                   cfg.keyword_feedback_weight) if cfg.keyword_feedback_docs else None
        keyword = self.store.keyword_search(query, principal, k=cfg.keyword_k, feedback=feedback)
        lap("keyword")
        qvec = None
        dense: list[tuple[int, float]] = []
        if self.embedder is not None and cfg.dense_k > 0 and query.strip():
            qvec = self.embedder.embed([query])[0]
            lap("embed_query")
            dense = self.dense.search(qvec, principal, cfg.dense_k)
            lap("dense")
        fused = rrf([(cfg.keyword_weight, [h.rowid for h in keyword]), (cfg.dense_weight, [r for r, _ in dense])],
                    k=cfg.rrf_k)
        ranked = sorted(fused, key=fused.__getitem__, reverse=True)
        do_rerank = cfg.rerank if rerank is None else rerank
        depth = max(k, cfg.rerank_depth) if do_rerank and qvec is not None else k
        ranked = ranked[:depth]
        known = {h.rowid: h for h in keyword}
        fetch = [r for r in ranked if r not in known]
        rows = self.store.hits_by_rowid(fetch, principal) if fetch else {}
        lap("fuse")
        hits = []
        for r in ranked:
            h = known.get(r) or rows.get(r)
            if h is not None:  # a row the principal may not read was never fetched
                h.score = fused[r]
                hits.append(h)
        if do_rerank and qvec is not None and hits:
            sent = best_sentence_scores(qvec, hits, self.sentences)
            top = max(h.score for h in hits)
            w = cfg.rerank_weight
            for h, s in zip(hits, sent, strict=True):
                h.score = (1 - w) * (h.score / top) + w * s
            hits.sort(key=lambda h: h.score, reverse=True)
            if cfg.dense_feedback_docs and len(hits) > 1:
                dense_feedback(qvec, hits, self.dense, cfg.dense_feedback_docs, cfg.dense_feedback_beta,
                               cfg.dense_feedback_weight)
            lap("rerank")
        flags = self.store.chunk_flags([h.chunk_id for h in hits]) if hits and hasattr(self.store, "chunk_flags") \
            else {}
        if flags:  # quarantined chunks (document guard) are never returned
            hits = [h for h in hits if getattr(flags.get(h.chunk_id), "action", None) != "quarantine"]
        return Retrieved(hits=hits[:k], query_vec=qvec, timings_ms=timings, flags=flags,
                         candidates={"keyword": len(keyword), "dense": len(dense), "fused": len(fused)})


def _minmax(x: np.ndarray) -> np.ndarray:
    span = float(x.max() - x.min())
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def dense_feedback(qvec: np.ndarray, hits: list[SearchHit], dense: DenseIndex, docs: int, beta: float,
                   weight: float) -> None:
    """Rocchio feedback at the rerank stage, in place: q' = q + beta × mean(vector of the top ``docs`` hits);
    each hit's score becomes (1 - weight) × min-max(score) + weight × min-max(cos(q', hit)). Only the
    vectors of hits already returned to this principal are read: no other chunk is scored."""
    vecs, found = dense.vectors([h.rowid for h in hits])
    top = vecs[:docs][found[:docs]]
    if not len(top) or found.sum() < 2:
        return
    q2 = np.asarray(qvec, dtype=np.float32) + beta * top.mean(axis=0)
    q2 /= np.linalg.norm(q2) or 1.0
    cos = vecs @ q2
    cos[~found] = cos[found].min()  # a chunk without a vector (not embedded yet) gets the lowest cosine
    mix = (1 - weight) * _minmax(np.array([h.score for h in hits], dtype=np.float32)) + weight * _minmax(cos)
    for h, m in zip(hits, mix, strict=True):
        h.score = float(m)
    hits.sort(key=lambda h: h.score, reverse=True)
