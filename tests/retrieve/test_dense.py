"""Dense index: exact scan up to ``exact_max`` readable vectors, sign-bit candidates + exact rescoring past it."""

from __future__ import annotations

import numpy as np
import pytest

from citeline.contracts import Principal
from citeline.ingest.chunk import text_hash
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
        q = exact._state.matrix[i] + 0.05 * rng.standard_normal(DIM).astype(np.float32)
        q /= np.linalg.norm(q)
        want, got = exact.search(q, p, 10), approx.search(q, p, 10)
        # the path under test really ran
        assert len(approx._state.bits) == len(approx) and not len(exact._state.bits)
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
    rows = dict(zip(approx._state.rowids.tolist(), range(len(approx))))
    readable = {r for r, _ in store._exec("SELECT c.rowid, 1 FROM chunks c JOIN documents d ON d.id = c.document_id"
                                          " WHERE d.tenant = 't1' AND d.acl = '[\"everyone\"]'")}
    for rowid in list(rows)[:50]:  # query with each vector itself: its own row is the best match if readable
        q = approx._state.matrix[rows[rowid]]
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
    pick = [int(r) for r in rng.choice(index._state.rowids, 7, replace=False)]
    vecs, found = index.vectors([*pick, 10**9])  # the last rowid does not exist
    assert found.tolist() == [True] * 7 + [False]
    for i, rowid in enumerate(pick):
        assert np.array_equal(vecs[i], index._state.matrix[int(np.flatnonzero(index._state.rowids == rowid)[0])])
    assert not vecs[-1].any()
    assert index.vectors([])[0].shape == (0, DIM)


def _snapshot(index: DenseIndex) -> dict:
    """What an index holds, independent of row order: rowid -> (tenant, ACL, vector bytes)."""
    st = index._state
    out = {}
    for b in st.blocks:
        for i in range(b.start, b.end):
            out[int(st.rowids[i])] = (b.tenant, b.acl, st.matrix[i].tobytes())
    return out


def test_refresh_by_change_matches_a_full_load_after_every_kind_of_write(settings):
    """Replace, vectors arriving later, shared texts, ACL changes, deletes, failed and stale re-ingests,
    writes that touch no vector: after each, the index refreshed by change holds exactly what a fresh
    full load holds, searches agree, and it never loaded everything again."""
    rng = np.random.default_rng(3)
    store = SqliteStore(settings.db_path)

    def vec():
        v = rng.standard_normal(DIM).astype(np.float32)
        return v / np.linalg.norm(v)

    def write(i, text, *, tenant="t1", acl=("everyone",), embed=True):
        doc, pages, chunks = _doc(tenant=tenant, uri=f"/c/{i}.txt", acl=acl, text=text)
        store.replace_document(doc, pages, chunks)
        if embed:
            store.put_embeddings(MODEL, [(chunks[0].text_hash, vec())])
        return doc

    acls = [("everyone",), ("hr",), ("eng", "hr")]
    docs = [write(i, f"chunk text {i}", tenant="t1" if i % 5 else "t2", acl=acls[i % 3]) for i in range(60)]
    live = _index(store, 10**9)
    live.refresh()
    full_loads = []
    load_all = live._load_all
    live._load_all = lambda: full_loads.append(1) or load_all()
    principals = [Principal("t1", ("everyone",)), Principal("t1", ("hr",)), Principal("t1", ("eng",)),
                  Principal("t2", ("everyone", "hr", "eng")), Principal("t1", ())]

    def check(step):
        live.refresh()
        fresh = _index(store, 10**9)
        fresh.refresh()
        assert _snapshot(live) == _snapshot(fresh), step
        for p in principals:
            q = vec()
            got, want = live.search(q, p, 10), fresh.search(q, p, 10)
            assert [r for r, _ in got] == [r for r, _ in want], (step, p)
            assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)
        assert not full_loads, step

    write(3, "chunk text 3, second version")  # replaced: new rowid, vector at once
    check("replace")
    write(4, "chunk text 4, not embedded yet", embed=False)  # replaced, its vector comes later
    check("replace without vector")
    store.put_embeddings(MODEL, [(text_hash("chunk text 4, not embedded yet"), vec())])
    check("vector arrives later")
    write(100, "chunk text 7")  # a new document sharing a text (and so a vector) with document 7
    check("shared text")
    store.touch_document(docs[8].id, mtime=None, size=None, acl=["hr"], run_id="r")  # ACL narrowed
    check("acl change")
    store.delete_document(docs[9].id, tenant=docs[9].tenant)
    store.delete_document(docs[10].id, tenant=docs[10].tenant)
    check("deletes")
    failed, _, _ = _doc(tenant=docs[11].tenant, uri="/c/11.txt")
    failed.status, failed.error = "failed", "broken"
    store.mark_failed(failed)  # was indexed: stays searchable as stale
    never, _, _ = _doc(uri="/c/200.txt")
    never.status, never.error = "failed", "broken"
    store.mark_failed(never)
    check("failed re-ingests")
    run = store.start_run("cfg", {})  # moves the generation, touches no vector
    store.finish_run(run.id, "done", {})
    check("unrelated writes")
    live._generation -= 3  # a change seen twice (a write racing the refresh) changes nothing
    live.refresh()
    check("applied twice")
    store.close()


def test_a_big_change_loads_everything_again(settings):
    store = SqliteStore(settings.db_path)
    rng = np.random.default_rng(5)
    docs = []
    for i in range(1200):
        doc, pages, chunks = _doc(uri=f"/b/{i}.txt", text=f"big change text {i}")
        store.replace_document(doc, pages, chunks)
        store.put_embeddings(MODEL, [(chunks[0].text_hash, rng.standard_normal(DIM).astype(np.float32))])
        docs.append(doc)
    index = _index(store, 10**9)
    index.refresh()
    loads = []
    load_all = index._load_all
    index._load_all = lambda: loads.append(1) or load_all()
    for doc in docs[:400]:  # a third of the documents change ACL
        store.touch_document(doc.id, mtime=None, size=None, acl=["eng"], run_id="r")
    index.refresh()
    assert loads == [1]
    assert sum(b.end - b.start for b in index._state.blocks if b.acl == '["eng"]') == 400
    store.close()
