"""BM25 keyword search on tantivy: an in-memory index per tenant, derived from the store.

SQLite stays the one source of truth; this index is a cache of it, like the dense matrix. Each
process builds it from the searchable chunks on its first keyword search and then catches up
whenever the store generation moves: documents written since it last looked carry a higher
``documents.index_gen`` and are re-indexed whole (delete by document id, add the current chunks);
a document count lower than expected means deletions, found by one id scan. So writes from other
processes (a CLI ingest while the server runs) are picked up, a killed process loses nothing, and
there is no second file to keep consistent.

Why not FTS5 alone: its ``bm25()`` is evaluated row by row for every match of every query term, which
costs ~40–110 ms a query at 100k chunks (bench/results/latency-kw-after.json); tantivy answers the
same queries in ~2 ms. ``retrieval.keyword_index = "fts5"`` keeps the FTS5 path.

Permissions: one index per tenant, so no other tenant's chunk is ever scored and BM25's statistics
(document frequencies, average lengths) are the tenant's own. Within a tenant, each chunk carries its
ACL (the sorted set of groups that may read it) as one term, and the query excludes every ACL of the
tenant that shares no group with the principal (a must-not clause; none when the principal reads
every ACL), so a chunk outside the principal's groups is never collected, returned or counted. The
earlier form, a required clause on the principal's groups, made tantivy intersect the query's union
with a filter: the same top k, 1.5x slower at 100k chunks (feedback queries of ~23 terms, 3.4 vs 2.2 ms).
The rows returned are re-checked against tenant and ACL in SQL (``hits_by_rowid``).

Pseudo-relevance feedback (:class:`~citeline.contracts.KeywordFeedback`, on by default): the top hits
of the question (readable ones only: the first query carries the same group filter) lend their most
distinctive words to a second, weighted query. On Cranfield it lifts hybrid nDCG@10 by ~0.016 on
both halves (bench/README.md).
"""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack

from citeline.contracts import KeywordFeedback, Principal
from citeline.errors import StoreError

log = logging.getLogger(__name__)

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be but by do does did for from had has have how i if in into is it its me my no not of on or"
    " our so than that the their them then there these they this to was we were what when where which who why will"
    " with you your can could should would".split()
)
#: FTS5 ranks with column weights text 1.0, heading path 0.5; the same boost here
HEADING_BOOST = 0.5
#: documents re-indexed per SQL statement when catching up
_BATCH_DOCS = 500


def query_words(text: str, max_terms: int = 32) -> list[str]:
    """The distinct lower-cased words of a query, stop words dropped unless nothing else is left."""
    words = list(dict.fromkeys(_WORD.findall(text.lower())))
    return ([w for w in words if w not in STOPWORDS] or words)[:max_terms]


def _tantivy():
    try:
        import tantivy
    except ImportError:  # pragma: no cover - a core dependency; the message says how to fix an odd install
        raise StoreError("keyword search needs the tantivy package: pip install 'tantivy>=0.27' "
                         "(or set retrieval.keyword_index = \"fts5\")") from None
    return tantivy


class _TenantIndex:
    """One tenant's tantivy index in memory: fields rowid (fast), doc and acl (raw terms), text, heading."""

    def __init__(self) -> None:
        tv = _tantivy()
        sb = tv.SchemaBuilder()
        sb.add_integer_field("rowid", fast=True)  # Python ints are i64 to tantivy
        sb.add_text_field("doc", tokenizer_name="raw", index_option="basic")
        sb.add_text_field("acl", tokenizer_name="raw", index_option="basic")
        sb.add_text_field("text", tokenizer_name="citeline", index_option="freq")
        sb.add_text_field("heading", tokenizer_name="citeline", index_option="freq")
        self.schema = sb.build()
        self.index = tv.Index(self.schema)
        # FTS5's "unicode61 remove_diacritics 2" + porter, as near as tantivy has: words, lower case,
        # diacritics folded, English (Snowball) stems; absurdly long tokens dropped
        self.analyzer = (tv.TextAnalyzerBuilder(tv.Tokenizer.simple()).filter(tv.Filter.remove_long(40))
                         .filter(tv.Filter.lowercase()).filter(tv.Filter.ascii_fold())
                         .filter(tv.Filter.stemmer("english")).build())
        self.index.register_tokenizer("citeline", self.analyzer)
        self._stop_terms: frozenset[str] | None = None
        #: every ACL term ever added -> its groups; replaced, never mutated, so searches read it unlocked
        self.acls: dict[str, frozenset[str]] = {}

    def writer(self, *, threads: int) -> _Writer:
        return _Writer(self, threads)

    def terms(self, words: Sequence[str]) -> list[str]:
        """The index terms (stems) of a query's words, in order, each once."""
        return list(dict.fromkeys(self.analyzer.analyze(" ".join(words))))

    def search(self, terms: dict[str, float], groups: Sequence[str], k: int, searcher=None) -> list[tuple[int, float]]:
        """(rowid, score) of the top ``k`` chunks in ``groups`` for ``terms`` (term -> query weight)."""
        tv = _tantivy()
        q, occur = tv.Query, tv.Occur
        if not terms:
            return []
        should = []
        for term, w in terms.items():
            text, heading = q.term_query(self.schema, "text", term), q.term_query(self.schema, "heading", term)
            should.append((occur.Should, text if w == 1.0 else q.boost_query(text, w)))
            should.append((occur.Should, q.boost_query(heading, HEADING_BOOST * w)))
        readable = set(groups)
        hidden = [acl for acl, acl_groups in self.acls.items() if not acl_groups & readable]
        if hidden:
            should.append((occur.MustNot, q.term_set_query(self.schema, "acl", hidden)))
        query = q.boolean_query(should)
        searcher = searcher or self.index.searcher()
        hits = searcher.search(query, k, count=False).hits
        rowids = searcher.fast_field_values("rowid", [addr for _, addr in hits])
        return [(int(r), float(score)) for r, (score, _) in zip(rowids, hits, strict=True)]

    def feedback_terms(self, terms: Sequence[str], texts: Sequence[str], fb: KeywordFeedback,
                       searcher) -> dict[str, float]:
        """The weighted second query: the question's terms at ``fb.weight``, plus the ``fb.terms`` terms
        of ``texts`` (the feedback hits) with the highest mean term frequency x idf, weighted by that
        score relative to the best one and sharing ``1 - fb.weight``."""
        if self._stop_terms is None:
            self._stop_terms = frozenset(self.analyzer.analyze(" ".join(STOPWORDS)))
        rel: Counter[str] = Counter()
        for text in texts:
            toks = [t for t in self.analyzer.analyze(text)
                    if len(t) > 1 and not t.isdigit() and t not in self._stop_terms]
            for t, n in Counter(toks).items():
                rel[t] += n / len(toks)
        n_docs = searcher.num_docs
        own = set(terms)
        scored = Counter()
        for t, v in rel.items():
            if t not in own:
                df = searcher.doc_freq("text", t)
                scored[t] = v * math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
        weights = dict.fromkeys(terms, fb.weight)
        added = scored.most_common(fb.terms)
        for t, v in added:
            weights[t] = (1 - fb.weight) * v / added[0][1]
        return weights


class _Writer:
    """Deletes and adds for one tenant, committed together (and made visible) on a clean exit."""

    def __init__(self, tenant: _TenantIndex, threads: int):
        self.tenant = tenant
        self._tv = _tantivy()
        self._w = tenant.index.writer(heap_size=64_000_000 * max(threads, 1), num_threads=threads)

    def delete(self, doc_id: str) -> None:
        self._w.delete_documents_by_term("doc", doc_id)

    def add(self, doc_id: str, acl: str, rowid: int, heading: str, text: str) -> None:
        """``acl``: the document's ACL as the store keeps it (sorted JSON list), indexed as one term."""
        if acl not in self.tenant.acls:  # before the commit makes the chunk visible
            self.tenant.acls = {**self.tenant.acls, acl: frozenset(json.loads(acl))}
        self._w.add_document(self._tv.Document(rowid=rowid, doc=doc_id, acl=acl, text=text, heading=heading))

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._w.commit()
            else:
                self._w.rollback()
        finally:
            self._w.wait_merging_threads()
        if exc_type is None:
            self.tenant.index.reload()


class KeywordIndex:
    """The per-tenant tantivy indexes of one store, kept in step with its generation counter."""

    def __init__(self, searchable: Sequence[str]):
        self._searchable = tuple(searchable)
        self._tenants: dict[str, _TenantIndex] = {}
        self._docs: dict[str, str] = {}  # every document id in the store -> its tenant
        self._generation: int | None = None
        self._lock = threading.Lock()

    @property
    def generation(self) -> int | None:
        return self._generation

    def search(self, con: sqlite3.Connection, gen: int, words: Sequence[str], principal: Principal,
               k: int, feedback: KeywordFeedback | None = None) -> list[tuple[int, float]]:
        """(chunk rowid, BM25 score) best first, among the chunks of ``principal``'s tenant and groups,
        for the query's ``words`` (:func:`query_words`). ``con`` is a connection inside a read
        transaction that saw generation ``gen``. With ``feedback``, the top hits' words expand the
        query (their texts are read through ``con``)."""
        self.refresh(con, gen)
        tenant = self._tenants.get(principal.tenant)
        if tenant is None:
            return []
        groups = sorted(set(principal.groups))
        terms = tenant.terms(words)
        searcher = tenant.index.searcher()
        if feedback is None or feedback.docs == 0:
            return tenant.search(dict.fromkeys(terms, 1.0), groups, k, searcher)
        first = tenant.search(dict.fromkeys(terms, 1.0), groups, feedback.docs, searcher)
        if not first:
            return []
        rowids = [r for r, _ in first]
        texts = [t for (t,) in con.execute(f"SELECT text FROM chunks WHERE rowid IN ({','.join('?' * len(rowids))})",
                                           rowids)]
        return tenant.search(tenant.feedback_terms(terms, texts, feedback, searcher), groups, k, searcher)

    def refresh(self, con: sqlite3.Connection, gen: int) -> None:
        if gen == self._generation:
            return
        with self._lock:
            if gen == self._generation:
                return
            if self._generation is None:
                self._build(con)
            else:
                self._catch_up(con, self._generation)
            self._generation = gen

    def _build(self, con: sqlite3.Connection) -> None:
        t = time.perf_counter()
        self._docs = dict(con.execute("SELECT id, tenant FROM documents"))
        self._tenants = {}
        writers: dict[str, _Writer] = {}
        n = 0
        with ExitStack() as stack:
            for tenant, *row in self._rows(con, None):
                w = writers.get(tenant)
                if w is None:
                    self._tenants[tenant] = idx = _TenantIndex()
                    w = writers[tenant] = stack.enter_context(idx.writer(threads=0))
                w.add(*row)
                n += 1
        log.info("keyword index: %d chunks of %d tenants indexed in %.1f s", n, len(writers),
                 time.perf_counter() - t)

    def _catch_up(self, con: sqlite3.Connection, since: int) -> None:
        changed = dict(con.execute("SELECT id, tenant FROM documents WHERE index_gen > ?", (since,)))
        known = {**self._docs, **changed}
        gone: dict[str, str] = {}
        (count,) = con.execute("SELECT COUNT(*) FROM documents").fetchone()
        if len(known) != count:  # deletions: find which
            present = {r[0] for r in con.execute("SELECT id FROM documents")}
            gone = {d: t for d, t in known.items() if d not in present}
            known = {d: t for d, t in known.items() if d in present}
        writers: dict[str, _Writer] = {}
        with ExitStack() as stack:
            def writer(tenant: str, *, create: bool) -> _Writer | None:
                if tenant not in writers:
                    idx = self._tenants.get(tenant)
                    if idx is None:
                        if not create:
                            return None
                        self._tenants[tenant] = idx = _TenantIndex()
                    writers[tenant] = stack.enter_context(idx.writer(threads=1))
                return writers[tenant]

            for doc_id, tenant in (*changed.items(), *gone.items()):
                if (w := writer(self._docs.get(doc_id, tenant), create=False)) is not None:
                    w.delete(doc_id)
            ids = list(changed)
            for i in range(0, len(ids), _BATCH_DOCS):
                for tenant, *row in self._rows(con, ids[i : i + _BATCH_DOCS]):
                    writer(tenant, create=True).add(*row)
        self._docs = known

    def _rows(self, con: sqlite3.Connection, doc_ids: Sequence[str] | None):
        """(tenant, document id, ACL json, chunk rowid, heading path, text) of searchable chunks."""
        where, params = "", list(self._searchable)
        if doc_ids is not None:
            where = f" AND d.id IN ({','.join('?' * len(doc_ids))})"
            params += list(doc_ids)
        cur = con.execute(
            f"""SELECT d.tenant, d.id, d.acl, c.rowid, c.heading_path, c.text FROM chunks c
                JOIN documents d ON d.id = c.document_id
                WHERE d.status IN ({",".join("?" * len(self._searchable))}){where}""",
            params,
        )
        while batch := cur.fetchmany(4096):
            yield from batch

    def close(self) -> None:
        with self._lock:
            self._tenants, self._docs, self._generation = {}, {}, None
