"""Hybrid retrieval: finds by meaning and by keyword, and never lets a principal see, score or
count a chunk outside its tenant and groups."""

from __future__ import annotations

import numpy as np
import pytest

from citeline.contracts import Principal
from citeline.ingest.pipeline import IngestPipeline
from citeline.retrieve import HybridRetriever
from citeline.retrieve.fusion import rrf
from citeline.store import SqliteStore

DOCS = {
    # similar documents with different ACLs, built to tempt leaks
    "salary-public.md": ("everyone", "# Pay day\n\nSalaries are paid on the last working day of each month."),
    "salary-hr.md": ("hr", "# Salary bands\n\nThe confidential salary band for engineers is 90,000 to 120,000 EUR."),
    "salary-exec.md": ("exec", "# Executive pay\n\nThe confidential salary of the chief executive is 410,000 EUR."),
    "parking.md": ("everyone", "# Parking\n\nStaff may park in the underground garage; bicycles go in the courtyard."),
    "vpn.md": ("everyone", "# Remote access\n\nConnect to the corporate network through the VPN client before "
                           "opening internal tools."),
}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, embedder):
    from citeline.config import load_settings

    root = tmp_path_factory.mktemp("acl")
    settings = load_settings(data_dir=root / "data", ingest={"workers": 1})
    store = SqliteStore(settings.db_path)
    for name, (group, text) in DOCS.items():
        (root / group).mkdir(exist_ok=True)
        (root / group / name).write_text(text)
        IngestPipeline(settings, store, embedder).run([str(root / group / name)], acl=[group])
    other = load_settings(data_dir=root / "data", tenant="globex")
    (root / "globex.md").write_text("# Globex salary\n\nGlobex pays salaries weekly on Fridays.")
    IngestPipeline(other, store, embedder).run([str(root / "globex.md")], tenant="globex")
    yield settings, store
    store.close()


def names(hits):
    return [h.source_uri.rsplit("/", 1)[-1] for h in hits]


def test_dense_finds_paraphrase_keyword_would_miss(indexed, embedder):
    settings, store = indexed
    r = HybridRetriever(settings, store, embedder)
    q = "how do I work from home on company systems"
    assert "vpn.md" not in names(store.keyword_search(q, Principal("default"), k=10))
    got = r.retrieve(q, Principal("default"), k=3)
    assert "vpn.md" in names(got.hits)
    assert got.candidates["dense"] > 0


@pytest.mark.parametrize("rerank", [False, True])
def test_acl_and_tenant_filter_everywhere(indexed, embedder, rerank):
    settings, store = indexed
    r = HybridRetriever(settings, store, embedder)
    q = "confidential salary of the chief executive"
    everyone = r.retrieve(q, Principal("default", ("everyone",)), k=10, rerank=rerank)
    assert "salary-exec.md" not in names(everyone.hits) and "salary-hr.md" not in names(everyone.hits)
    assert all("confidential" not in h.text for h in everyone.hits)
    # nothing forbidden was even a candidate: counts equal what the principal may read
    assert everyone.candidates["dense"] == 3
    hr = r.retrieve(q, Principal("default", ("everyone", "hr")), k=10, rerank=rerank)
    assert "salary-hr.md" in names(hr.hits) and "salary-exec.md" not in names(hr.hits)
    execs = r.retrieve(q, Principal("default", ("exec",)), k=10, rerank=rerank)
    assert names(execs.hits) == ["salary-exec.md"]
    globex = r.retrieve("salary", Principal("globex"), k=10, rerank=rerank)
    assert names(globex.hits) == ["globex.md"]
    assert r.retrieve(q, Principal("default", ()), k=10).hits == []
    assert r.retrieve(q, Principal("nobody-tenant"), k=10).hits == []


def test_index_follows_store_changes(indexed, embedder, tmp_path):
    settings, store = indexed
    r = HybridRetriever(settings, store, embedder)
    before = len(r.retrieve("garage bicycles", Principal("default"), k=10).hits)
    (tmp_path / "bikes.md").write_text("# Bikes\n\nBicycle repair is free in the courtyard workshop on Tuesdays.")
    IngestPipeline(settings, store, embedder).run([str(tmp_path / "bikes.md")])
    after = r.retrieve("bicycle repair courtyard", Principal("default"), k=10)
    assert "bikes.md" in names(after.hits) and len(after.hits) >= before
    store.delete_document(after.hits[names(after.hits).index("bikes.md")].document_id, tenant="default")
    assert "bikes.md" not in names(r.retrieve("bicycle repair courtyard", Principal("default"), k=10).hits)


def test_bad_queries_never_raise(indexed, embedder):
    settings, store = indexed
    r = HybridRetriever(settings, store, embedder)
    for q in ["", "   ", "\x00\x01", "a" * 100_000, "NEAR(\"x\" *", "¿Dónde aparco la bicicleta?", "🚲🚲"]:
        r.retrieve(q, Principal("default"), k=5)


def test_rrf_weights():
    fused = rrf([(1.0, [1, 2, 3]), (2.0, [3, 4])], k=60)
    assert max(fused, key=fused.get) == 3
    assert rrf([(0.0, [1]), (1.0, [2])]) == {2: pytest.approx(1 / 61)}
    assert np.isclose(fused[1], 1 / 61)


def _hit(rowid: int, score: float):
    from citeline.contracts import SearchHit

    return SearchHit(f"c{rowid}", f"d{rowid}", None, f"/{rowid}", 1, 0, 1, "", "text", score, rowid=rowid)


class _Vectors:
    """What dense_feedback reads of a DenseIndex: vectors by rowid (and which rows have one)."""

    def __init__(self, table: dict[int, list[float]]):
        self.table = table

    def vectors(self, rowids):
        found = np.array([r in self.table for r in rowids])
        vecs = np.array([self.table.get(r, [0.0, 0.0, 0.0]) for r in rowids], dtype=np.float32)
        return vecs, found


def test_dense_feedback_lifts_a_hit_like_the_top_hits():
    from citeline.retrieve.hybrid import dense_feedback

    unit = lambda v: (np.array(v, dtype=np.float32) / np.linalg.norm(v)).tolist()  # noqa: E731
    # the top two hits point one way; hit 3 (ranked last) points the same way, hit 4 does not
    table = {1: unit([1, 0.2, 0]), 2: unit([1, -0.2, 0]), 3: unit([1, 0, 0.1]), 4: unit([0, 1, 1])}
    hits = [_hit(1, 1.0), _hit(2, 0.9), _hit(4, 0.8), _hit(3, 0.7), _hit(5, 0.75)]  # 5 has no vector
    dense_feedback(np.array(unit([0.6, 0.8, 0.0]), dtype=np.float32), hits, _Vectors(table), docs=2, beta=4.0,
                   weight=0.5)
    order = [h.rowid for h in hits]
    assert order.index(3) < order.index(4)  # the hit near the top hits' centre overtakes the odd one out
    assert order.index(5) == len(order) - 1 or hits[order.index(5)].score <= hits[order.index(3)].score
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0.0 <= h.score <= 1.0 for h in hits)


def test_dense_feedback_leaves_hits_alone_without_vectors():
    from citeline.retrieve.hybrid import dense_feedback

    hits = [_hit(1, 1.0), _hit(2, 0.5)]
    dense_feedback(np.ones(3, dtype=np.float32), hits, _Vectors({}), docs=5, beta=4.0, weight=0.5)
    assert [(h.rowid, h.score) for h in hits] == [(1, 1.0), (2, 0.5)]


def test_dense_feedback_reorders_the_same_readable_candidates(indexed, embedder):
    from citeline.config import load_settings

    settings, store = indexed
    off = load_settings(data_dir=settings.data_dir, ingest={"workers": 1}, retrieval={"dense_feedback_docs": 0})
    on = load_settings(data_dir=settings.data_dir, ingest={"workers": 1}, retrieval={"dense_feedback_docs": 2})
    changed = False
    for q in ["when are salaries paid", "where can I leave my bike"]:
        a = HybridRetriever(off, store, embedder).retrieve(q, Principal("default", ("everyone",)), k=10)
        b = HybridRetriever(on, store, embedder).retrieve(q, Principal("default", ("everyone",)), k=10)
        assert {h.chunk_id for h in a.hits} == {h.chunk_id for h in b.hits}  # the same candidates, reordered
        assert not {"salary-hr.md", "salary-exec.md", "globex.md"} & set(names(b.hits))
        changed |= [h.score for h in a.hits] != [h.score for h in b.hits]
    assert changed  # the setting reaches the retriever
