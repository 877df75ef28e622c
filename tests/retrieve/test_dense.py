"""Dense index: exact scan up to ``exact_max`` readable vectors, sign-bit candidates + exact rescoring past it."""

from __future__ import annotations

import numpy as np
import pytest

from citeline.contracts import Principal
from citeline.retrieve.dense import DenseIndex
from citeline.store import SqliteStore
from tests.store.test_sqlite import _doc

MODEL, DIM = "test-model", 384


@pytest.fixture(scope="module")
def vectors_store(tmp_path_factory):
    """3,000 clustered unit vectors: 2,400 readable by t1/everyone, 300 by t1/hr, 300 in tenant t2."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((30, DIM)).astype(np.float32)
    store = SqliteStore(tmp_path_factory.mktemp("dense") / "x.db")
    vecs = {}
    for i in range(3000):
        tenant, acl = ("t2", ("everyone",)) if i % 10 == 0 else ("t1", ("hr",) if i % 10 == 1 else ("everyone",))
        doc, pages, chunks = _doc(tenant=tenant, uri=f"/v/{i}.txt", acl=acl, text=f"vector document {i}")
        v = centres[i % 30] + 0.8 * rng.standard_normal(DIM).astype(np.float32)
        vecs[chunks[0].text_hash] = v / np.linalg.norm(v)
        store.replace_document(doc, pages, chunks)
    store.put_embeddings(MODEL, list(vecs.items()))
    yield store, rng
    store.close()


def _index(store, exact_max):
    return DenseIndex(store, MODEL, DIM, exact_max=exact_max, oversample=20)


def test_sign_bit_path_finds_what_the_exact_scan_finds(vectors_store):
    store, rng = vectors_store
    exact, approx = _index(store, 10**9), _index(store, 1000)
    p = Principal("t1", ("everyone", "hr"))
    exact.refresh()
    recalls = []
    for i in rng.choice(len(exact), 30, replace=False):  # queries near the data, as real questions are
        q = exact._matrix[i] + 0.05 * rng.standard_normal(DIM).astype(np.float32)
        q /= np.linalg.norm(q)
        want, got = exact.search(q, p, 10), approx.search(q, p, 10)
        assert len(approx._bits) == len(approx) and not len(exact._bits)  # the path under test really ran
        recalls.append(len({r for r, _ in want} & {r for r, _ in got}) / 10)
        by_row = dict(want)
        for rowid, score in got:  # scores are exact cosines, best first
            assert score == pytest.approx(by_row.get(rowid, score), abs=1e-5)
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
    assert np.mean(recalls) >= 0.9, recalls


def test_sign_bit_path_never_touches_unreadable_blocks(vectors_store):
    store, _ = vectors_store
    approx = _index(store, 1000)
    approx.refresh()
    rows = dict(zip(approx._rowids.tolist(), range(len(approx))))
    readable = {r for r, _ in store._exec("SELECT c.rowid, 1 FROM chunks c JOIN documents d ON d.id = c.document_id"
                                          " WHERE d.tenant = 't1' AND d.acl = '[\"everyone\"]'")}
    for rowid in list(rows)[:50]:  # query with each vector itself: its own row is the best match if readable
        q = approx._matrix[rows[rowid]]
        got = [r for r, _ in approx.search(q, Principal("t1", ("everyone",)), 20)]
        assert set(got) <= readable
        if rowid in readable:
            assert got[0] == rowid


def test_small_readable_share_stays_exact(vectors_store):
    """The choice is by what the principal may read: 300 hr rows are scanned exactly even in a big index."""
    store, rng = vectors_store
    approx, exact = _index(store, 1000), _index(store, 10**9)
    q = rng.standard_normal(DIM).astype(np.float32)
    q /= np.linalg.norm(q)
    hr_only = Principal("t1", ("hr",))
    assert approx.search(q, hr_only, 15) == exact.search(q, hr_only, 15)


def test_vectors_by_rowid_match_the_matrix_and_flag_missing_rows(vectors_store):
    store, rng = vectors_store
    index = _index(store, 10**9)
    index.refresh()
    pick = [int(r) for r in rng.choice(index._rowids, 7, replace=False)]
    vecs, found = index.vectors([*pick, 10**9])  # the last rowid does not exist
    assert found.tolist() == [True] * 7 + [False]
    for i, rowid in enumerate(pick):
        assert np.array_equal(vecs[i], index._matrix[int(np.flatnonzero(index._rowids == rowid)[0])])
    assert not vecs[-1].any()
    assert index.vectors([])[0].shape == (0, DIM)
