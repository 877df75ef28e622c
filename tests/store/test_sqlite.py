from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from citeline.contracts import Block, Chunk, DocumentRecord, Page, Principal
from citeline.ingest.chunk import text_hash
from citeline.store import SqliteStore
from citeline.store.migrations import SQLITE_MIGRATIONS
from citeline.store.sql import document_id

EXPECTED = {
    "documents": {"id", "tenant", "source_uri", "content_hash", "title", "doc_type", "page_count", "chunk_count",
                  "size_bytes", "mtime", "acl", "metadata", "status", "error", "run_id", "created_at", "updated_at",
                  "index_gen"},
    "document_acl": {"document_id", "grp"},
    "pages": {"document_id", "page_no", "text", "blocks", "needs_ocr", "ocr"},
    "chunks": {"rowid", "id", "document_id", "ordinal", "page", "start_char", "end_char", "heading_path", "text",
               "text_hash"},
    "embeddings": {"text_hash", "model", "dim", "vector", "gen"},
    "ingest_runs": {"id", "started_at", "finished_at", "status", "config_hash", "args", "counts"},
    "schema_migrations": {"version", "name", "applied_at"},
    "store_meta": {"key", "value"},
    "sentence_embeddings": {"text_hash", "model", "spans", "vectors"},
    "api_keys": {"id", "tenant", "role", "groups", "name", "secret_hash", "created_at", "last_used_at", "revoked_at"},
    "sessions": {"token_hash", "key_id", "csrf", "created_at", "expires_at"},
    "traces": {"id", "tenant", "key_id", "groups", "route", "question", "answer", "decision", "reason", "confidence",
               "answerer", "model", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms", "config_hash",
               "response", "created_at"},
    "feedback": {"trace_id", "key_id", "rating", "comment", "created_at"},
    "uploads": {"id", "tenant", "key_id", "filename", "path", "size_bytes", "acl", "status", "document_id", "error",
                "created_at", "updated_at"},
    "eval_runs": {"id", "tenant", "dataset_name", "dataset_hash", "config_hash", "label", "repeats", "n_examples",
                  "status", "settings", "summary", "error", "created_at", "finished_at", "owner"},
    "eval_results": {"run_id", "example_id", "repeat", "output", "metrics", "created_at"},
    "eval_calibrations": {"id", "judge", "model", "n", "stats", "mapping", "trusted", "created_at"},
    "chunk_flags": {"chunk_id", "document_id", "rule", "score", "action", "detail", "created_at"},
}


def _doc(tenant="t1", uri="/docs/a.txt", acl=("everyone",), text="Refunds take ten days to reach the card."):
    did = document_id(tenant, uri)
    page = Page(1, text, [Block("paragraph", 0, len(text))])
    chunk = Chunk(id=f"{did}-0", document_id=did, ordinal=0, page=1, start=0, end=len(text), heading_path="",
                  text=text, text_hash=text_hash(text))
    return DocumentRecord(id=did, tenant=tenant, source_uri=uri, status="ok", content_hash="h" + text[:5],
                          title=uri, doc_type="text", acl=list(acl)), [page], [chunk]


@pytest.fixture(params=["tantivy", "fts5"])
def store(request, settings):
    """Every behaviour test runs on both keyword engines."""
    s = SqliteStore(settings.db_path, keyword_index=request.param)
    yield s
    s.close()


@pytest.fixture
def fts5_store(settings):
    s = SqliteStore(settings.db_path, keyword_index="fts5")
    yield s
    s.close()


def test_migrates_empty_database_and_records_version(tmp_path):
    path = tmp_path / "x.db"
    store = SqliteStore(path)
    assert store.schema_version() == max(v for v, _, _ in SQLITE_MIGRATIONS)
    store.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for table, cols in EXPECTED.items():
        got = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
        assert cols <= got, (table, cols - got)
    assert con.execute("SELECT name FROM sqlite_master WHERE name = 'chunks_fts'").fetchone()
    versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [v for v, _, _ in SQLITE_MIGRATIONS]
    con.close()
    # re-opening applies nothing twice
    again = SqliteStore(path)
    assert again.schema_version() == versions[-1]
    again.close()


def test_replace_is_atomic_and_keyword_index_follows(store):
    doc, pages, chunks = _doc()
    store.replace_document(doc, pages, chunks)
    p = Principal("t1")
    assert [h.text for h in store.keyword_search("refunds card", p)] == [chunks[0].text]
    doc2, pages2, chunks2 = _doc(text="Shipping is free above fifty euros.")
    store.replace_document(doc2, pages2, chunks2)
    assert store.keyword_search("refunds", p) == []
    assert len(store.keyword_search("shipping", p)) == 1
    assert store.count_chunks() == 1


def test_acl_and_tenant_filter_inside_query(store):
    for tenant, uri, acl, text in [
        ("t1", "/hr.txt", ("hr",), "Salary bands are reviewed every March."),
        ("t1", "/all.txt", ("everyone",), "Salary is paid on the last working day."),
        ("t2", "/other.txt", ("everyone",), "Salary for tenant two is secret."),
    ]:
        store.replace_document(*_doc(tenant, uri, acl, text))
    sees = lambda p: sorted(h.source_uri for h in store.keyword_search("salary", p))  # noqa: E731
    assert sees(Principal("t1", ("everyone",))) == ["/all.txt"]
    assert sees(Principal("t1", ("everyone", "hr"))) == ["/all.txt", "/hr.txt"]
    assert sees(Principal("t2", ("everyone", "hr"))) == ["/other.txt"]
    assert sees(Principal("t1", ())) == []


def test_fts_query_syntax_is_neutralised(store):
    store.replace_document(*_doc())
    for q in ['"unbalanced', "refunds OR", "NEAR(", "*", "a:b", "' OR 1=1 --", ""]:
        store.keyword_search(q, Principal("t1"))  # never raises


def test_failure_keeps_previous_version_searchable_as_stale(store):
    doc, pages, chunks = _doc()
    store.replace_document(doc, pages, chunks)
    failed = DocumentRecord(id=doc.id, tenant="t1", source_uri=doc.source_uri, status="failed", error="broken")
    got = store.mark_failed(failed)
    assert got.status == "stale" and got.error == "broken"
    assert len(store.keyword_search("refunds", Principal("t1"))) == 1
    fresh = DocumentRecord(id=document_id("t1", "/new.pdf"), tenant="t1", source_uri="/new.pdf", status="failed",
                           error="not a PDF")
    assert store.mark_failed(fresh).status == "failed"
    assert {d.source_uri for d in store.list_documents("t1", status=["failed", "stale"])} == {"/docs/a.txt", "/new.pdf"}


def test_embeddings_pending_and_dedup(store):
    doc, pages, chunks = _doc()
    store.replace_document(doc, pages, chunks)
    pending = store.pending_embeddings("m", 0, 10)
    assert [p[1] for p in pending] == [chunks[0].text_hash]
    store.put_embeddings("m", [(chunks[0].text_hash, np.ones(4, dtype=np.float32))])
    store.put_embeddings("m", [(chunks[0].text_hash, np.zeros(4, dtype=np.float32))])  # ignored: already there
    assert store.pending_embeddings("m", 0, 10) == []
    assert store.count_pending_embeddings("m") == 0
    assert store.get_embeddings("m", [chunks[0].text_hash])[chunks[0].text_hash].tolist() == [1, 1, 1, 1]


def test_delete_cascades(store):
    doc, pages, chunks = _doc()
    store.replace_document(doc, pages, chunks)
    assert store.delete_document(doc.id, tenant="other") is False
    assert store.delete_document(doc.id, tenant="t1") is True
    assert store.count_chunks() == 0 and store.get_page(doc.id, 1, tenant="t1") is None
    assert store.keyword_search("refunds", Principal("t1")) == []


def test_runs_interrupted_when_left_running(store):
    r1 = store.start_run("abc", {"paths": ["x"]})
    r2 = store.start_run("abc", {"paths": ["y"]})
    store.finish_run(r2.id, "finished", {"new": 1})
    runs = {r.id: r for r in store.list_runs()}
    assert runs[r1.id].status == "interrupted"
    assert runs[r2.id].status == "finished" and runs[r2.id].counts == {"new": 1}


def test_two_step_keyword_search_ranks_like_one_joined_statement(fts5_store):
    """The rowid-first query returns exactly what one joined, ACL-filtered statement returns."""
    import random

    from citeline.store.sql import SEARCHABLE
    from citeline.store.sqlite import fts_query

    rng = random.Random(7)
    vocab = "refund card salary travel policy desk ticket shipping invoice laptop badge parking".split()
    for i in range(60):
        text = " ".join(rng.choice(vocab) for _ in range(rng.randint(5, 30)))
        acl = rng.choice([("everyone",), ("hr",), ("eng", "hr")])
        fts5_store.replace_document(*_doc(tenant=rng.choice(["t1", "t1", "t2"]), uri=f"/d/{i}.txt", acl=acl, text=text))
    for groups in (("everyone",), ("hr",), ("eng",), ("everyone", "hr")):
        p = Principal("t1", groups)
        for q in ("refund card", "salary travel parking", "badge", "invoice laptop desk ticket"):
            ref = fts5_store._exec(
                f"""SELECT c.rowid, -bm25(chunks_fts, 1.0, 0.5) AS score FROM chunks_fts
                    JOIN chunks c ON c.rowid = chunks_fts.rowid JOIN documents d ON d.id = c.document_id
                    WHERE chunks_fts MATCH ? AND d.tenant = ? AND d.status IN ({",".join("?" * len(SEARCHABLE))})
                      AND EXISTS (SELECT 1 FROM document_acl a WHERE a.document_id = d.id
                                  AND a.grp IN ({",".join("?" * len(groups))}))
                    ORDER BY score DESC, c.rowid LIMIT 10""",
                (fts_query(q), "t1", *SEARCHABLE, *groups)).fetchall()
            got = fts5_store.keyword_search(q, p, k=10)
            assert [round(h.score, 9) for h in got] == [round(s, 9) for _, s in ref]
            assert {h.rowid for h in got} <= {r for (r,) in fts5_store._exec(
                "SELECT c.rowid FROM chunks c JOIN documents d ON d.id = c.document_id JOIN document_acl a"
                f" ON a.document_id = d.id WHERE d.tenant = 't1' AND a.grp IN ({','.join('?' * len(groups))})",
                groups).fetchall()}


def test_readable_set_follows_acl_changes_new_documents_and_deletes(store):
    """The cached per-principal readable set is rebuilt whenever the store generation moves."""
    p = Principal("t1", ("everyone",))
    doc, pages, chunks = _doc(text="Parking badges are issued at the front desk.")
    store.replace_document(doc, pages, chunks)
    assert len(store.keyword_search("parking", p)) == 1
    # ACL narrowed: the same principal (cached table) must no longer score or see it
    store.touch_document(doc.id, mtime=None, size=None, acl=["hr"], run_id="r")
    assert store.keyword_search("parking", p) == []
    assert len(store.keyword_search("parking", Principal("t1", ("hr",)))) == 1
    # a new readable document appears, a deleted one disappears
    store.replace_document(*_doc(uri="/b.txt", text="Parking is free on Sundays."))
    assert [h.source_uri for h in store.keyword_search("parking", p)] == ["/b.txt"]
    store.delete_document(document_id("t1", "/b.txt"), tenant="t1")
    assert store.keyword_search("parking", p) == []


@pytest.mark.parametrize("engine", ["tantivy", "fts5"])
def test_readable_set_sees_writes_from_another_connection(settings, engine):
    """A second process (here: a second store on the same file) writing is seen at the next query."""
    reader, writer = SqliteStore(settings.db_path, keyword_index=engine), SqliteStore(settings.db_path)
    try:
        p = Principal("t1", ("everyone",))
        doc, pages, chunks = _doc(text="Laptop refresh happens every three years.")
        writer.replace_document(doc, pages, chunks)
        assert len(reader.keyword_search("laptop", p)) == 1
        writer.touch_document(doc.id, mtime=None, size=None, acl=["eng"], run_id="r")
        assert reader.keyword_search("laptop", p) == []
        writer.replace_document(*_doc(tenant="t2", uri="/x.txt", text="Laptop policy of tenant two."))
        assert reader.keyword_search("laptop", p) == []
        assert [h.source_uri for h in reader.keyword_search("laptop", Principal("t2", ("everyone",)))] == ["/x.txt"]
    finally:
        reader.close()
        writer.close()


def test_readable_cache_eviction_keeps_every_principal_correct(fts5_store):
    from citeline.store.sqlite import READABLE_CACHE

    n = READABLE_CACHE + 3
    for i in range(n):
        fts5_store.replace_document(*_doc(uri=f"/g{i}.txt", acl=(f"g{i}",), text=f"Travel rules for group {i}."))
    for _ in range(2):  # second round: every table was evicted and rebuilt at least once
        for i in range(n):
            got = fts5_store.keyword_search("travel rules", Principal("t1", (f"g{i}",)), k=20)
            assert [h.source_uri for h in got] == [f"/g{i}.txt"]
    assert len(fts5_store._readable_tables) == READABLE_CACHE
    temp = {r[0] for r in fts5_store._read_conn.execute("SELECT name FROM temp.sqlite_master WHERE type = 'table'")}
    assert temp == {name for name, _ in fts5_store._readable_tables.values()}


@pytest.mark.parametrize("engine", ["tantivy", "fts5"])
def test_keyword_search_in_memory_store(engine):
    s = SqliteStore(":memory:", keyword_index=engine)
    try:
        s.replace_document(*_doc(acl=("hr",), text="Salary bands are reviewed in March."))
        assert s.keyword_search("salary", Principal("t1", ("everyone",))) == []
        assert len(s.keyword_search("salary", Principal("t1", ("hr",)))) == 1
        with s.transaction(bump=False):  # called inside a write transaction on the same connection
            assert len(s.keyword_search("salary", Principal("t1", ("hr",)))) == 1
    finally:
        s.close()


def test_keyword_search_inside_rolled_back_transaction_leaves_no_stale_readable_set():
    s = SqliteStore(":memory:", keyword_index="fts5")
    try:
        s.replace_document(*_doc(acl=("hr",), text="Salary bands are reviewed in March."))
        hr, everyone = Principal("t1", ("hr",)), Principal("t1", ("everyone",))
        assert s.keyword_search("salary", everyone) == []
        try:
            with s.transaction():
                s._exec("UPDATE document_acl SET grp = 'everyone'")
                assert len(s.keyword_search("salary", everyone)) == 1
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        assert s.keyword_search("salary", everyone) == []
        assert len(s.keyword_search("salary", hr)) == 1
    finally:
        s.close()


def test_pruned_keyword_ranking_equals_the_full_or_query(fts5_store, monkeypatch):
    """MaxScore pruning (score only rows holding a rare term when that provably cannot change the top k)
    returns exactly the scores and order of the full OR query, and the ACL filter still applies."""
    import random

    from citeline.store.sql import SEARCHABLE
    from citeline.store.sqlite import SqliteStore as S
    from citeline.store.sqlite import fts_query

    rng = random.Random(11)
    vocab = [f"w{i}" for i in range(300)]
    weights = [1 / (i + 1) for i in range(300)]  # Zipfian: a few terms in most chunks, a long tail
    for i in range(400):
        text = " ".join(rng.choices(vocab, weights, k=rng.randint(20, 60)))
        acl = rng.choice([("everyone",), ("everyone",), ("hr",)])
        fts5_store.replace_document(*_doc(tenant=rng.choice(["t1", "t1", "t1", "t2"]), uri=f"/z/{i}.txt", acl=acl,
                                     text=text))
    used = []
    real = S._ranked_pruned
    monkeypatch.setattr(S, "_ranked_pruned", lambda self, *a: used.append(r := real(self, *a)) or r)
    queries = [" ".join(rng.sample(vocab[:5], 2) + rng.sample(vocab[5:120], rng.randint(1, 4))) for _ in range(40)]
    for groups in (("everyone",), ("hr",)):
        for q in queries:
            for k in (5, 20):
                ref = fts5_store._exec(
                    f"""SELECT c.rowid, -bm25(chunks_fts, 1.0, 0.5) AS score FROM chunks_fts
                        JOIN chunks c ON c.rowid = chunks_fts.rowid JOIN documents d ON d.id = c.document_id
                        WHERE chunks_fts MATCH ? AND d.tenant = 't1' AND d.status IN ({",".join("?" * len(SEARCHABLE))})
                          AND EXISTS (SELECT 1 FROM document_acl a WHERE a.document_id = d.id AND a.grp = ?)
                        ORDER BY score DESC, c.rowid LIMIT ?""",
                    (fts_query(q), *SEARCHABLE, groups[0], k)).fetchall()
                got = fts5_store.keyword_search(q, Principal("t1", groups), k=k)
                assert [(h.rowid, round(h.score, 9)) for h in got] == [(r, round(s, 9)) for r, s in ref]
    assert sum(r is not None for r in used) >= 10  # the pruned path really ran (and was exact)
    assert any(r is None for r in used)  # ... and fell back to the full query where it could not prove it


def test_fts_row_count_is_read_from_the_index(fts5_store):
    for i in range(7):
        fts5_store.replace_document(*_doc(uri=f"/c/{i}.txt", text=f"Counting rows {i}."))
    lock, con = fts5_store._reader()
    with lock:
        n, df = fts5_store._fts_stats(con, ['"counting"', '"rows"', '"nothing"'], fts5_store.generation())
    assert n == fts5_store.count_chunks() == 7
    assert df == {'"counting"': 7, '"rows"': 7, '"nothing"': 0}
