"""Dense search over an in-memory matrix, partitioned by (tenant, ACL).

Rows are grouped into contiguous blocks, one per distinct tenant + ACL set, so a query scores
only the blocks its principal may read: no vector outside them is ever touched.

The matrix follows the store's generation counter. The first refresh loads every vector; later
ones apply only what changed since (documents written after that generation, found by
``documents.index_gen``; vectors added after it, by ``embeddings.gen``; deleted documents, by the
document count): the rows of changed or deleted documents are dropped and their current rows
added, in one copy of the matrix instead of reading 1.5 KB a row back from SQLite (at 1M chunks:
about a second instead of minutes). Applying a change twice gives the same matrix, so a write
racing the refresh is simply applied again next time. When more than a quarter of the rows would
change, the whole matrix is loaded again.

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
    acl: str  # as the store keeps it (sorted JSON list)
    groups: frozenset[str]
    start: int
    end: int


#: a refresh that would change more than this share of the rows loads the whole matrix instead
_FULL_RELOAD_SHARE = 0.25


@dataclass(slots=True)
class _State:
    """One consistent view of the index, replaced whole by a refresh (searches read it once)."""

    matrix: np.ndarray  # float32 rows, block after block
    rowids: np.ndarray  # chunk rowid of each row
    doc_of: np.ndarray  # each row's document, as a code of DenseIndex._doc_code
    blocks: list[_Block]
    by_rowid: np.ndarray  # positions of rowids in rowid order (vectors())
    bits: np.ndarray  # sign bits of (row - centre), built past exact_max
    centre: np.ndarray


def _empty_state(dim: int) -> _State:
    return _State(np.zeros((0, dim), dtype=np.float32), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), [],
                  np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.uint64), np.zeros(dim, dtype=np.float32))


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
        self._state = _empty_state(dim)
        self._doc_code: dict[str, int] = {}
        self._docs: set[str] = set()  # every document id of the store at the last refresh
        self._generation = -1
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._state.rowids)

    def refresh(self) -> None:
        gen = self.store.generation()
        if gen == self._generation:
            return
        with self._lock:
            if gen == self._generation:
                return
            state = self._apply_changes(self._generation) if self._generation >= 0 else False
            if state is None:  # no vector changed (a write elsewhere moved the generation)
                self._generation = gen
                return
            if state is False:
                state = self._load_all()
            state.by_rowid = np.argsort(state.rowids, kind="stable")
            if len(state.matrix) > self.exact_max:
                _build_sign_bits(state, self.dim)
            self._state, self._generation = state, gen

    def _code(self, doc_id: str) -> int:
        code = self._doc_code.get(doc_id)
        if code is None:
            code = self._doc_code[doc_id] = len(self._doc_code)
        return code

    def _group_rows(self, rows) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(tenant, acl) -> (vectors, rowids, document codes), each sorted by rowid."""
        vecs: dict[tuple[str, str], list[bytes]] = {}
        ids: dict[tuple[str, str], list[int]] = {}
        docs: dict[tuple[str, str], list[int]] = {}
        for tenant, acl, rowid, blob, doc_id in rows:
            key = (tenant, acl)
            if key not in vecs:
                vecs[key], ids[key], docs[key] = [], [], []
            vecs[key].append(blob)
            ids[key].append(rowid)
            docs[key].append(self._code(doc_id))
        out = {}
        for key in list(vecs):
            order = np.argsort(ids[key], kind="stable")
            part = np.frombuffer(b"".join(vecs.pop(key)), dtype=np.float32).reshape(-1, self.dim)[order]
            out[key] = (part, np.asarray(ids.pop(key), dtype=np.int64)[order],
                        np.asarray(docs.pop(key), dtype=np.int32)[order])
        return out

    def _install(self, parts: dict[tuple[str, str], list[tuple]]) -> _State:
        """The blocks (sorted by tenant, ACL) laid out as one matrix. A part is (vectors, rowids, document
        codes, keep mask or None); kept rows are copied straight into the new matrix, so a refresh holds
        the old and the new matrix at most, not a third copy."""
        sizes = {key: sum(len(r) if k is None else int(k.sum()) for _, r, _, k in ps) for key, ps in parts.items()}
        n = sum(sizes.values())
        if not n:
            return _empty_state(self.dim)
        matrix = np.empty((n, self.dim), dtype=np.float32)
        rowids = np.empty(n, dtype=np.int64)
        docs = np.empty(n, dtype=np.int32)
        blocks: list[_Block] = []
        at = 0
        for key in sorted(parts):
            if not sizes[key]:
                continue
            blocks.append(_Block(key[0], key[1], frozenset(json.loads(key[1])), at, at + sizes[key]))
            for m, r, d, keep in parts[key]:
                cnt = len(r) if keep is None else int(keep.sum())
                if keep is None:
                    matrix[at : at + cnt], rowids[at : at + cnt], docs[at : at + cnt] = m, r, d
                else:
                    np.compress(keep, m, axis=0, out=matrix[at : at + cnt])
                    rowids[at : at + cnt], docs[at : at + cnt] = r[keep], d[keep]
                at += cnt
        empty = _empty_state(self.dim)
        return _State(matrix, rowids, docs, blocks, empty.by_rowid, empty.bits, empty.centre)

    def _load_all(self) -> _State:
        self._doc_code = {}
        self._docs = set(self.store.document_ids()) if hasattr(self.store, "document_ids") else set()
        grouped = self._group_rows(self.store.vector_rows(self.model))
        return self._install({key: [(*part, None)] for key, part in grouped.items()})

    def _apply_changes(self, since: int) -> _State | bool | None:
        """The state brought from generation ``since`` to now by change; None when nothing changed,
        False when a full load is due."""
        store = self.store
        if not hasattr(store, "documents_written_since"):
            return False
        changed = set(store.documents_written_since(since))
        known = self._docs | changed
        gone: set[str] = set()
        if len(known) != store.document_count():
            present = set(store.document_ids())
            gone, known = known - present, known & present
        if len(changed) + len(gone) > _FULL_RELOAD_SHARE * max(len(self._docs), 1) and len(self._docs) > 100:
            return False
        fresh = list(store.vector_rows(self.model, documents=sorted(changed))) if changed else []
        seen = {r[2] for r in fresh}
        fresh += [r for r in store.vector_rows(self.model, embedded_since=since) if r[2] not in seen]
        old = self._state
        if len(fresh) > _FULL_RELOAD_SHARE * max(len(old.rowids), 1) and len(old.rowids) > 1000:
            return False
        drop_codes = np.array([self._doc_code[d] for d in changed | gone if d in self._doc_code], dtype=np.int32)
        added = self._group_rows(fresh)
        add_ids = np.concatenate([a[1] for a in added.values()]) if added else np.zeros(0, dtype=np.int64)
        if not len(drop_codes) and not len(add_ids):
            self._docs = known
            return None
        keep = ~(np.isin(old.doc_of, drop_codes) | np.isin(old.rowids, add_ids))
        parts: dict[tuple[str, str], list[tuple]] = {}
        for b in old.blocks:
            parts[(b.tenant, b.acl)] = [(old.matrix[b.start : b.end], old.rowids[b.start : b.end],
                                         old.doc_of[b.start : b.end], keep[b.start : b.end])]
        for key, part in added.items():
            parts.setdefault(key, []).append((*part, None))
        state = self._install(parts)
        self._docs = known  # only now: a refresh that failed half-way finds the same deletions again
        return state

    def build_sign_bits(self) -> None:
        """The sign bits of every row around the mean row (built by refresh past ``exact_max``)."""
        _build_sign_bits(self._state, self.dim)

    def vectors(self, rowids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, found) of chunks by rowid, for chunks already returned to their reader; a chunk not
        (yet) embedded has found False and a zero row."""
        self.refresh()
        st = self._state
        want = np.asarray(rowids, dtype=np.int64)
        out = np.zeros((len(want), self.dim), dtype=np.float32)
        if not len(st.rowids) or not len(want):
            return out, np.zeros(len(want), dtype=bool)
        sorted_ids = st.rowids[st.by_rowid]
        at = np.minimum(np.searchsorted(sorted_ids, want), len(sorted_ids) - 1)
        found = sorted_ids[at] == want
        out[found] = st.matrix[st.by_rowid[at[found]]]
        return out, found

    def search(self, query_vec: np.ndarray, principal: Principal, k: int) -> list[tuple[int, float]]:
        """Top-k (chunk rowid, cosine) among chunks the principal may read."""
        self.refresh()
        st = self._state
        groups = set(principal.groups)
        q = np.asarray(query_vec, dtype=np.float32)
        readable = [b for b in st.blocks if b.tenant == principal.tenant and b.groups & groups]
        if not readable:
            return []
        with _blas_threads(self.blas_threads):
            if len(st.bits) and sum(b.end - b.start for b in readable) > self.exact_max:
                return self._search_bits(st, q, readable, k)
            best_ids: list[np.ndarray] = []
            best_scores: list[np.ndarray] = []
            for b in readable:
                scores = st.matrix[b.start : b.end] @ q
                idx = _top(scores, k)
                best_ids.append(st.rowids[b.start : b.end][idx])
                best_scores.append(scores[idx])
        ids = np.concatenate(best_ids)
        scores = np.concatenate(best_scores)
        order = np.argsort(-scores)[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]

    def _search_bits(self, st: _State, q: np.ndarray, readable: list[_Block], k: int) -> list[tuple[int, float]]:
        """Candidates by sign-bit Hamming distance within the readable blocks, then exact cosines."""
        qbits = _sign_bits(q[None, :], st.centre)[0]
        n_cand = max(self.oversample * k, 256)
        cand: list[np.ndarray] = []
        dist: list[np.ndarray] = []
        for b in readable:
            d = np.bitwise_count(st.bits[b.start : b.end] ^ qbits).sum(axis=1, dtype=np.uint16)
            idx = _top(-d.astype(np.int32), n_cand)
            cand.append(idx + b.start)
            dist.append(d[idx])
        rows = np.concatenate(cand)
        if len(rows) > n_cand:
            rows = rows[_top(-np.concatenate(dist).astype(np.int32), n_cand)]
        scores = st.matrix[rows] @ q
        idx = _top(scores, k)
        order = idx[np.argsort(-scores[idx])]
        return [(int(st.rowids[rows[i]]), float(scores[i])) for i in order]


def _build_sign_bits(st: _State, dim: int) -> None:
    """The sign bits of every row of ``st`` around its mean row, in place."""
    m = st.matrix
    st.centre = m.mean(axis=0) if len(m) else np.zeros(dim, dtype=np.float32)
    st.bits = np.vstack([_sign_bits(m[i : i + 65536], st.centre) for i in range(0, len(m), 65536)]) \
        if len(m) else np.zeros((0, 0), dtype=np.uint64)


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
