"""Dense search over an in-memory matrix, partitioned by (tenant, ACL).

Rows are grouped into contiguous blocks, one per distinct tenant + ACL set, so a query scores
only the blocks its principal may read: no vector outside them is ever touched. The matrix is
rebuilt when the store's generation counter moves.

Up to ``exact_max`` readable vectors the search is an exact scan (one matrix-vector product).
Beyond, scanning float32 rows is bound by memory bandwidth (1.5 GB a query at 1M chunks), so
candidates are first chosen by the Hamming distance between sign bits of the centred vectors
(48 bytes a row instead of 1,536) and only ``oversample × k`` of them are scored exactly; the
scores returned are always exact cosines. Recall of that step against the exact scan is measured
by bench/latency.py.
"""

from __future__ import annotations

import json
import threading
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from citeline.contracts import Principal


@dataclass(slots=True)
class _Block:
    tenant: str
    groups: frozenset[str]
    start: int
    end: int


_BLAS: ThreadpoolController | None = None


def _blas_threads(n: int):
    """Limit BLAS to ``n`` threads for one scan (0: leave the library's default). A query's scan is
    memory-bound, so one thread costs little at the median, while idle BLAS threads spinning next
    to onnxruntime's doubled the p95 of a whole search (bench/results/latency.json)."""
    global _BLAS
    if n <= 0:
        return nullcontext()
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=n, user_api="blas")


class DenseIndex:
    def __init__(self, store, model: str, dim: int = 384, *, exact_max: int = 1_000_000, oversample: int = 20,
                 blas_threads: int = 1):
        self.store = store
        self.model = model
        self.dim = dim
        self.exact_max = exact_max
        self.oversample = oversample
        self.blas_threads = blas_threads
        self._matrix = np.zeros((0, dim), dtype=np.float32)
        self._bits = np.zeros((0, 0), dtype=np.uint64)  # sign bits of (row - centre), built past exact_max
        self._centre = np.zeros(dim, dtype=np.float32)
        self._rowids = np.zeros(0, dtype=np.int64)
        self._by_rowid = np.zeros(0, dtype=np.int64)  # positions of _rowids in rowid order (vectors())
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
            # grouped by (tenant, ACL) here, in Python: rows arrive in any order
            vecs: dict[tuple[str, str], list[bytes]] = {}
            ids: dict[tuple[str, str], list[int]] = {}
            for tenant, acl, rowid, blob in self.store.vector_rows(self.model):
                key = (tenant, acl)
                if key not in vecs:
                    vecs[key], ids[key] = [], []
                vecs[key].append(blob)
                ids[key].append(rowid)
            blocks: list[_Block] = []
            parts: list[np.ndarray] = []
            rowids: list[int] = []
            for key in sorted(vecs):
                order = np.argsort(ids[key], kind="stable")
                part = np.frombuffer(b"".join(vecs.pop(key)), dtype=np.float32).reshape(-1, self.dim)[order]
                blocks.append(_Block(key[0], frozenset(json.loads(key[1])), len(rowids), len(rowids) + len(part)))
                rowids.extend(np.asarray(ids[key], dtype=np.int64)[order].tolist())
                parts.append(part)
            matrix = np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)
            del parts
            self._matrix, self._rowids, self._blocks = matrix, np.asarray(rowids, dtype=np.int64), blocks
            self._by_rowid = np.argsort(self._rowids, kind="stable")
            self._bits = np.zeros((0, 0), dtype=np.uint64)
            if len(matrix) > self.exact_max:
                self.build_sign_bits()
            self._generation = gen

    def build_sign_bits(self) -> None:
        """The sign bits of every row around the mean row (built by refresh past ``exact_max``)."""
        m = self._matrix
        self._centre = m.mean(axis=0) if len(m) else np.zeros(self.dim, dtype=np.float32)
        self._bits = np.vstack([_sign_bits(m[i : i + 65536], self._centre) for i in range(0, len(m), 65536)]) \
            if len(m) else np.zeros((0, 0), dtype=np.uint64)

    def vectors(self, rowids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, found) of chunks by rowid, for chunks already returned to their reader; a chunk not
        (yet) embedded has found False and a zero row."""
        self.refresh()
        want = np.asarray(rowids, dtype=np.int64)
        out = np.zeros((len(want), self.dim), dtype=np.float32)
        if not len(self._rowids) or not len(want):
            return out, np.zeros(len(want), dtype=bool)
        sorted_ids = self._rowids[self._by_rowid]
        at = np.minimum(np.searchsorted(sorted_ids, want), len(sorted_ids) - 1)
        found = sorted_ids[at] == want
        out[found] = self._matrix[self._by_rowid[at[found]]]
        return out, found

    def search(self, query_vec: np.ndarray, principal: Principal, k: int) -> list[tuple[int, float]]:
        """Top-k (chunk rowid, cosine) among chunks the principal may read."""
        self.refresh()
        groups = set(principal.groups)
        q = np.asarray(query_vec, dtype=np.float32)
        readable = [b for b in self._blocks if b.tenant == principal.tenant and b.groups & groups]
        if not readable:
            return []
        with _blas_threads(self.blas_threads):
            if len(self._bits) and sum(b.end - b.start for b in readable) > self.exact_max:
                return self._search_bits(q, readable, k)
            best_ids: list[np.ndarray] = []
            best_scores: list[np.ndarray] = []
            for b in readable:
                scores = self._matrix[b.start : b.end] @ q
                idx = _top(scores, k)
                best_ids.append(self._rowids[b.start : b.end][idx])
                best_scores.append(scores[idx])
        ids = np.concatenate(best_ids)
        scores = np.concatenate(best_scores)
        order = np.argsort(-scores)[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]

    def _search_bits(self, q: np.ndarray, readable: list[_Block], k: int) -> list[tuple[int, float]]:
        """Candidates by sign-bit Hamming distance within the readable blocks, then exact cosines."""
        qbits = _sign_bits(q[None, :], self._centre)[0]
        n_cand = max(self.oversample * k, 256)
        cand: list[np.ndarray] = []
        dist: list[np.ndarray] = []
        for b in readable:
            d = np.bitwise_count(self._bits[b.start : b.end] ^ qbits).sum(axis=1, dtype=np.uint16)
            idx = _top(-d.astype(np.int32), n_cand)
            cand.append(idx + b.start)
            dist.append(d[idx])
        rows = np.concatenate(cand)
        if len(rows) > n_cand:
            rows = rows[_top(-np.concatenate(dist).astype(np.int32), n_cand)]
        scores = self._matrix[rows] @ q
        idx = _top(scores, k)
        order = idx[np.argsort(-scores[idx])]
        return [(int(self._rowids[rows[i]]), float(scores[i])) for i in order]


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores (any order)."""
    return np.argpartition(-scores, k)[:k] if len(scores) > k else np.arange(len(scores))


def _sign_bits(rows: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """One bit per dimension, set where the row is above the centre, packed into uint64 words."""
    bits = np.packbits(rows > centre, axis=1)
    pad = (-bits.shape[1]) % 8
    if pad:
        bits = np.pad(bits, ((0, 0), (0, pad)))
    return np.ascontiguousarray(bits).view(np.uint64)
