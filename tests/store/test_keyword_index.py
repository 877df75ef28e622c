"""The tantivy keyword index: derived from the store, caught up on every generation move, per tenant."""

from __future__ import annotations

import dataclasses

import pytest

from citeline.contracts import KeywordFeedback, Principal
from citeline.errors import StoreError
from citeline.store import SqliteStore
from tests.store.test_sqlite import _doc

EVERYONE = Principal("t1", ("everyone",))


def _uris(store, query, principal=EVERYONE, k=10):
    return [h.source_uri for h in store.keyword_search(query, principal, k=k)]


def test_catch_up_follows_replace_acl_change_delete_and_failed_rewrites(store_tv):
    s = store_tv
    doc, pages, chunks = _doc(uri="/a.txt", text="Parking permits are issued by facilities.")
    s.replace_document(doc, pages, chunks)
    s.replace_document(*_doc(uri="/b.txt", text="Parking is free on weekends."))
    assert sorted(_uris(s, "parking")) == ["/a.txt", "/b.txt"]
    first_gen = s._keyword_index.generation

    # replaced: new chunk rowids, old text gone
    s.replace_document(*_doc(uri="/a.txt", text="Bicycle storage is in the basement."))
    assert _uris(s, "parking") == ["/b.txt"]
    assert _uris(s, "bicycle") == ["/a.txt"]
    assert s._keyword_index.generation > first_gen  # caught up, not rebuilt from nothing
    # ACL narrowed, then widened again (touch_document: no new chunks)
    s.touch_document(doc.id, mtime=None, size=None, acl=["hr"], run_id="r")
    assert _uris(s, "bicycle") == []
    assert _uris(s, "bicycle", Principal("t1", ("hr",))) == ["/a.txt"]
    s.touch_document(doc.id, mtime=None, size=None, acl=["everyone"], run_id="r")
    assert _uris(s, "bicycle") == ["/a.txt"]
    # a failed re-ingest keeps the previous version searchable (stale)
    failed, _, _ = _doc(uri="/a.txt")
    failed.status, failed.error = "failed", "broken file"
    s.mark_failed(failed)
    assert _uris(s, "bicycle") == ["/a.txt"]
    # deleted
    s.delete_document(doc.id, tenant="t1")
    assert _uris(s, "bicycle") == []
    assert _uris(s, "parking") == ["/b.txt"]


def test_new_tenant_after_first_search_is_indexed(store_tv):
    store_tv.replace_document(*_doc(uri="/a.txt", text="Holiday rules."))
    assert _uris(store_tv, "holiday") == ["/a.txt"]
    store_tv.replace_document(*_doc(tenant="t2", uri="/x.txt", text="Holiday rules of tenant two."))
    assert _uris(store_tv, "holiday") == ["/a.txt"]
    assert _uris(store_tv, "holiday", Principal("t2", ("everyone",))) == ["/x.txt"]
    assert _uris(store_tv, "holiday", Principal("t3", ("everyone",))) == []


def test_other_tenants_never_change_a_tenants_scores(store_tv):
    """One index per tenant: another tenant's documents are not scored and do not move BM25's statistics."""
    s = store_tv
    for i in range(5):
        s.replace_document(*_doc(uri=f"/t1/{i}.txt", text=f"Expense claims need receipts, case {i}."))
    before = [(h.rowid, h.score) for h in s.keyword_search("expense receipts", EVERYONE)]
    for i in range(40):
        s.replace_document(*_doc(tenant="t2", uri=f"/t2/{i}.txt", text="Expense expense receipts receipts."))
    assert [(h.rowid, h.score) for h in s.keyword_search("expense receipts", EVERYONE)] == before


def test_group_filter_is_inside_the_query(store_tv):
    """Hits come only from readable groups, and the top k are the readable top k (not a filtered global top k)."""
    s = store_tv
    for i in range(30):  # strong matches the principal may not read
        s.replace_document(*_doc(uri=f"/hr/{i}.txt", acl=("hr",), text="Salary salary salary bands."))
    s.replace_document(*_doc(uri="/open.txt", text="Salary reviews happen in March, among other things said here."))
    assert _uris(s, "salary", k=5) == ["/open.txt"]
    assert len(_uris(s, "salary", Principal("t1", ("hr",)), k=5)) == 5
    assert _uris(s, "salary", Principal("t1", ())) == []


def test_a_chunk_is_readable_through_any_one_of_its_groups(store_tv):
    """Chunks carry their whole ACL as one term; the query excludes the ACLs sharing no group with the
    principal, so shared ACLs, ACLs added after the first search and principals reading all behave alike."""
    s = store_tv
    s.replace_document(*_doc(uri="/both.txt", acl=("hr", "eng"), text="Laptop refresh policy for staff."))
    s.replace_document(*_doc(uri="/eng.txt", acl=("eng",), text="Laptop images are built nightly."))
    s.replace_document(*_doc(uri="/open.txt", text="Laptop bags are in the store room."))
    assert sorted(_uris(s, "laptop", Principal("t1", ("hr",)))) == ["/both.txt"]
    assert sorted(_uris(s, "laptop", Principal("t1", ("eng",)))) == ["/both.txt", "/eng.txt"]
    assert sorted(_uris(s, "laptop", Principal("t1", ("everyone", "eng", "hr")))) == [
        "/both.txt", "/eng.txt", "/open.txt"]
    assert _uris(s, "laptop", Principal("t1", ("sales",))) == []
    # a new ACL after the index exists is excluded from the first search that could see it
    s.replace_document(*_doc(uri="/sales.txt", acl=("sales", "legal"), text="Laptop discounts for customers."))
    assert sorted(_uris(s, "laptop", Principal("t1", ("eng",)))) == ["/both.txt", "/eng.txt"]
    assert _uris(s, "laptop", Principal("t1", ("legal",))) == ["/sales.txt"]
    fb = KeywordFeedback(docs=3, terms=10, weight=0.5)
    hits = s.keyword_search("laptop", Principal("t1", ("hr",)), feedback=fb)
    assert [h.source_uri for h in hits] == ["/both.txt"]


def test_heading_path_counts_half(store_tv):
    s = store_tv
    s.replace_document(*_doc(uri="/body.txt", text="Travel policy for everyone who travels."))
    doc, pages, chunks = _doc(uri="/head.txt", text="Rules for everyone who travels.")
    s.replace_document(doc, pages, [dataclasses.replace(chunks[0], heading_path="Travel policy")])
    got = s.keyword_search("travel policy", EVERYONE)
    assert [h.source_uri for h in got] == ["/body.txt", "/head.txt"]
    assert got[1].score > 0


def test_stems_and_folds_diacritics_like_fts5(store_tv):
    store_tv.replace_document(*_doc(uri="/a.txt", text="The café reimbursed travelling employees."))
    assert _uris(store_tv, "cafe reimbursement travelled employee") == ["/a.txt"]
    assert _uris(store_tv, 'AND OR NOT "* ( ) :') == []  # query syntax is never parsed


def _feedback_corpus(s):
    """Two readable hits for 'drag coefficient' that also say 'boundary layer'; a third document says
    only 'boundary layer separation', never the question's words; fillers give the words their idf."""
    s.replace_document(*_doc(uri="/a.txt", text="The drag coefficient depends on the boundary layer."))
    s.replace_document(*_doc(uri="/b.txt", text="Drag coefficient measurements near a laminar boundary layer."))
    s.replace_document(*_doc(uri="/c.txt", text="Boundary layer separation over swept laminar wings."))
    for i in range(12):
        s.replace_document(*_doc(uri=f"/f{i}.txt", text=f"Unrelated filler text number {i} about parking permits."))


FB = KeywordFeedback(docs=2, terms=5, weight=0.5)


def test_feedback_finds_a_document_that_shares_no_word_with_the_question(store_tv):
    s = store_tv
    _feedback_corpus(s)
    plain = [h.source_uri for h in s.keyword_search("drag coefficient", EVERYONE)]
    assert plain == ["/a.txt", "/b.txt"] or plain == ["/b.txt", "/a.txt"]
    got = s.keyword_search("drag coefficient", EVERYONE, feedback=FB)
    assert sorted(h.source_uri for h in got[:2]) == sorted(plain)  # the question's own words still lead
    assert "/c.txt" in [h.source_uri for h in got]
    assert all(h.score > 0 for h in got)
    assert s.keyword_search("drag coefficient", EVERYONE, feedback=KeywordFeedback(docs=0)) == \
        s.keyword_search("drag coefficient", EVERYONE)
    assert s.keyword_search("nothing matches this", EVERYONE, feedback=FB) == []


def test_feedback_words_come_only_from_readable_hits(store_tv):
    """An unreadable document that matches the question must not lend its words: otherwise the hits
    it pulls in would reveal what it says."""
    s = store_tv
    s.replace_document(*_doc(uri="/open.txt", text="Merger planning notes for the board."))
    s.replace_document(*_doc(uri="/secret.txt", acl=("exec",), text="Merger with Quillfeather announced friday."))
    s.replace_document(*_doc(uri="/q.txt", text="Quillfeather friday newsletter."))
    for i in range(12):
        s.replace_document(*_doc(uri=f"/f{i}.txt", text=f"Unrelated filler text number {i} about parking permits."))
    fb = KeywordFeedback(docs=3, terms=10, weight=0.5)
    assert "/q.txt" not in [h.source_uri for h in s.keyword_search("merger", EVERYONE, feedback=fb)]
    execs = Principal("t1", ("everyone", "exec"))
    assert "/q.txt" in [h.source_uri for h in s.keyword_search("merger", execs, feedback=fb)]


def test_feedback_is_ignored_by_fts5(settings):
    s = SqliteStore(settings.db_path, keyword_index="fts5")
    _feedback_corpus(s)
    assert s.keyword_search("drag coefficient", EVERYONE, feedback=FB) == s.keyword_search("drag coefficient", EVERYONE)
    s.close()


def test_rolled_back_write_never_reaches_the_index():
    """Inside its own write transaction a ``:memory:`` store ranks with FTS5 (it sees the uncommitted
    write); the tantivy index only takes committed state, so a rollback leaves nothing behind."""
    s = SqliteStore(":memory:")
    try:
        s.replace_document(*_doc(acl=("hr",), text="Salary bands are reviewed in March."))
        assert _uris(s, "salary") == []
        try:
            with s.transaction():
                s._exec("UPDATE documents SET acl = '[\"everyone\"]', index_gen = 99")
                s._exec("UPDATE document_acl SET grp = 'everyone'")
                s._exec("UPDATE store_meta SET value = value + 1 WHERE key = 'generation'")
                assert _uris(s, "salary") == ["/docs/a.txt"]
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        assert _uris(s, "salary") == []
        s.replace_document(*_doc(uri="/other.txt", text="Unrelated."))  # the next committed write
        assert _uris(s, "salary") == []
        assert _uris(s, "salary", Principal("t1", ("hr",))) == ["/docs/a.txt"]
    finally:
        s.close()


def test_unknown_engine_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="unknown keyword index 'lucene'"):
        SqliteStore(tmp_path / "x.db", keyword_index="lucene")


@pytest.fixture
def store_tv(settings):
    s = SqliteStore(settings.db_path, keyword_index="tantivy")
    yield s
    s.close()
