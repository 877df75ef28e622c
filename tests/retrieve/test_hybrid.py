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
