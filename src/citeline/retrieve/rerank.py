"""Rerank chunks by their best-matching sentence: a finer query–text similarity than the
whole-chunk vector. Sentence vectors are computed once per chunk text and cached in the store."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from citeline.contracts import SearchHit
from citeline.ingest.sentences import sentence_spans

MAX_SENTENCE_WORDS = 80


def split_sentences(text: str) -> list[tuple[int, int]]:
    spans = []
    for a, b in sentence_spans(text):
        if len(text[a:b].split()) >= 2:
            spans.append((a, b))
    return spans or [(0, len(text))]


class SentenceVectors:
    """(spans, vectors) of the sentences of chunk texts; memory + store cache."""

    def __init__(self, store, embedder, memory_items: int = 20_000):
        self.store = store
        self.embedder = embedder
        self._memo: dict[str, tuple[list, np.ndarray]] = {}
        self._limit = memory_items

    def get(self, hits: Sequence[SearchHit]) -> dict[str, tuple[list, np.ndarray]]:
        want = list(dict.fromkeys(h.text_hash for h in hits))
        out = {h: self._memo[h] for h in want if h in self._memo}
        missing = [h for h in want if h not in out]
        if missing:
            stored = self.store.get_sentence_vectors(self.embedder.name, missing)
            out.update(stored)
            missing = [h for h in missing if h not in stored]
        if missing:
            texts = {h.text_hash: h.text for h in hits}
            todo, flat = [], []
            for h in missing:
                spans = split_sentences(texts[h])
                todo.append((h, spans))
                flat.extend(texts[h][a:b] for a, b in spans)
            vecs = self.embedder.embed(flat)
            new, i = [], 0
            for h, spans in todo:
                v = vecs[i : i + len(spans)].astype(np.float16)
                i += len(spans)
                out[h] = (spans, v)
                new.append((h, spans, v))
            try:
                self.store.put_sentence_vectors(self.embedder.name, new)
            except Exception:  # a read-only or busy store must not fail the query
                pass
        if len(self._memo) > self._limit:
            self._memo.clear()
        self._memo.update(out)
        return out


def best_sentence_scores(query_vec: np.ndarray, hits: Sequence[SearchHit], sv: SentenceVectors) -> list[float]:
    vectors = sv.get(hits)
    q = query_vec.astype(np.float32)
    return [float((vectors[h.text_hash][1].astype(np.float32) @ q).max()) for h in hits]
