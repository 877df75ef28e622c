"""Exact dense search over an in-memory matrix, partitioned by (tenant, ACL).

Rows are grouped into contiguous blocks, one per distinct tenant + ACL set, so a query scores
only the blocks its principal may read: no vector outside them is ever touched. The matrix is
rebuilt when the store's generation counter moves.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import numpy as np

from citeline.contracts import Principal


@dataclass(slots=True)
class _Block:
    tenant: str
    groups: frozenset[str]
    start: int
    end: int


class DenseIndex:
    def __init__(self, store, model: str, dim: int = 384):
        self.store = store
        self.model = model
        self.dim = dim
        self._matrix = np.zeros((0, dim), dtype=np.float32)
        self._rowids = np.zeros(0, dtype=np.int64)
        self._blocks: list[_Block] = []
        self._generation = -1
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rowids)

    def refresh(self) -> None:
        gen = self.store.generation()
        if gen == self._generation:
            return
        with self._lock:
            if gen == self._generation:
                return
            vecs: list[bytes] = []
            rowids: list[int] = []
            blocks: list[_Block] = []
            key = None
            for tenant, acl, rowid, blob in self.store.vector_rows(self.model):
                if (tenant, acl) != key:
                    if blocks:
                        blocks[-1].end = len(rowids)
                    blocks.append(_Block(tenant, frozenset(json.loads(acl)), len(rowids), len(rowids)))
                    key = (tenant, acl)
                rowids.append(rowid)
                vecs.append(blob)
            if blocks:
                blocks[-1].end = len(rowids)
            matrix = np.frombuffer(b"".join(vecs), dtype=np.float32).reshape(-1, self.dim) if vecs else \
                np.zeros((0, self.dim), dtype=np.float32)
            self._matrix, self._rowids, self._blocks = matrix, np.asarray(rowids, dtype=np.int64), blocks
            self._generation = gen

    def search(self, query_vec: np.ndarray, principal: Principal, k: int) -> list[tuple[int, float]]:
        """Top-k (chunk rowid, cosine) among chunks the principal may read."""
        self.refresh()
        groups = set(principal.groups)
        q = np.asarray(query_vec, dtype=np.float32)
        best_ids: list[np.ndarray] = []
        best_scores: list[np.ndarray] = []
        for b in self._blocks:
            if b.tenant != principal.tenant or not (b.groups & groups):
                continue
            scores = self._matrix[b.start : b.end] @ q
            if len(scores) > k:
                idx = np.argpartition(-scores, k)[:k]
                scores = scores[idx]
                ids = self._rowids[b.start : b.end][idx]
            else:
                ids = self._rowids[b.start : b.end]
            best_ids.append(ids)
            best_scores.append(scores)
        if not best_ids:
            return []
        ids = np.concatenate(best_ids)
        scores = np.concatenate(best_scores)
        order = np.argsort(-scores)[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]
