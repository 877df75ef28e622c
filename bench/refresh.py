"""Dense index refresh after a write: by change (the product) against a full reload (before), same run.

    .venv/bin/python bench/refresh.py                      # 100k and 1M chunks (the latency corpora)
    .venv/bin/python bench/refresh.py --sizes 10000 --rounds 3

Uses the synthetic corpora of bench/latency.py (built there when missing: ``--build-only``). Each size,
in one process: load the dense index (a full load: what every refresh cost before), then per round

* ``touch``: one document re-scanned unchanged but with its ACL rewritten (``touch_document``: the
  store marks it written, the index drops and re-reads its rows);
* ``add 10 chunks``: a new document of 10 chunks whose texts already have vectors (the common
  re-ingest case: its vectors are there at once);
* ``delete``: that document deleted again, so the corpus ends as it began;

and time ``DenseIndex.refresh()`` after each, then one forced full reload as the baseline. Also the
time of a search right after a write (refresh included). Output: a table and
``bench/results/refresh.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, WORK, command_line, machine_info, versions, write_json  # noqa: E402
from latency import build, db_dir, log, peak_rss_mb, rss_mb  # noqa: E402

RESULTS = REPO / "bench" / "results"


def corpus_dir(size: int, seed: int) -> Path:
    """The latency corpus of this size and seed; one cached under an older schema key is reused (opening
    it applies the newer migrations), since a new 1M corpus takes ~15 minutes to generate."""
    d = db_dir(size, seed)
    if (d / "READY.json").exists():
        return d
    for ready in sorted(WORK.glob(f"latency-{size}-*/READY.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        if json.loads(ready.read_text()).get("seed") == seed:
            log(f"[{size:,}] reusing {ready.parent.name} (built under an earlier schema)")
            return ready.parent
    log(f"[{size:,}] building the corpus (bench/latency.py --build-only)…")
    build(size, seed)
    return d


def measure(size: int, rounds: int, seed: int) -> dict:
    from citeline.contracts import Block, Chunk, DocumentRecord, Page, Principal
    from citeline.ingest.chunk import text_hash
    from citeline.retrieve.dense import DenseIndex
    from citeline.store import SqliteStore
    from citeline.store.sql import document_id

    d = corpus_dir(size, seed)
    store = SqliteStore(d / "citeline.db")
    (model,) = store._exec("SELECT model FROM embeddings LIMIT 1").fetchone()
    index = DenseIndex(store, model, 384)
    t = time.perf_counter()
    index.refresh()
    first_load = time.perf_counter() - t
    log(f"[{size:,}] first load {first_load:.1f} s, {len(index):,} rows, RSS {rss_mb():.0f} MB")
    texts = [r[0] for r in store._exec("SELECT text FROM chunks ORDER BY rowid LIMIT 10")]
    docs = store._exec("SELECT id, acl FROM documents ORDER BY rowid LIMIT ?", (rounds,)).fetchall()
    principal = Principal("default", ("everyone", "eng"))
    q = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    q /= np.linalg.norm(q)
    times: dict[str, list[float]] = {"touch": [], "add 10 chunks": [], "delete": [], "search after a write": []}

    for i, (doc_id, acl) in enumerate(docs):
        store.touch_document(doc_id, mtime=None, size=None, acl=json.loads(acl), run_id="bench")
        t = time.perf_counter()
        index.refresh()
        times["touch"].append(time.perf_counter() - t)
        uri = f"/bench-refresh/{i}.txt"
        did = document_id("default", uri)
        page_text = "\n".join(texts)
        doc = DocumentRecord(id=did, tenant="default", source_uri=uri, status="ok", content_hash=f"bench-{i}",
                             title=uri, doc_type="text", acl=["everyone"])
        pages = [Page(1, page_text, [Block("paragraph", 0, len(page_text))])]
        chunks = [Chunk(id=f"{did}-{j}", document_id=did, ordinal=j, page=1, start=0, end=len(text), heading_path="",
                        text=text, text_hash=text_hash(text))  # ten chunks whose vectors the store already has
                  for j, text in enumerate(texts)]
        store.replace_document(doc, pages, chunks)
        t = time.perf_counter()
        index.refresh()
        times["add 10 chunks"].append(time.perf_counter() - t)
        store.delete_document(doc.id, tenant="default")
        t = time.perf_counter()
        index.refresh()
        times["delete"].append(time.perf_counter() - t)
        store.touch_document(doc_id, mtime=None, size=None, acl=json.loads(acl), run_id="bench")
        t = time.perf_counter()
        index.search(q, principal, 50)
        times["search after a write"].append(time.perf_counter() - t)
    rows_after = len(index)
    index._generation = -1  # the baseline: what every refresh did before, a full reload
    t = time.perf_counter()
    index.refresh()
    full = time.perf_counter() - t
    store.close()
    out = {"size": size, "rows": rows_after, "first_load_s": round(first_load, 2), "full_reload_s": round(full, 2),
           "rss_mb": rss_mb(), "peak_rss_mb": peak_rss_mb(), "rounds": rounds}
    for name, ts in times.items():
        out[name] = {"median_s": round(statistics.median(ts), 4), "max_s": round(max(ts), 4)}
        log(f"[{size:,}] {name:22s} median {statistics.median(ts) * 1000:8.1f} ms  max {max(ts) * 1000:8.1f} ms")
    log(f"[{size:,}] full reload {full:.1f} s")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "refresh.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    results = [measure(int(s), args.rounds, args.seed) for s in args.sizes.split(",")]
    print("\n## Dense index refresh after one write (2-core machine), median (max) ms")
    print("| chunks | touch one document | add a 10-chunk document | delete it | search after a write |"
          " full reload (before) | by change vs full reload |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        cells = [f"{r[k]['median_s'] * 1000:.1f} ({r[k]['max_s'] * 1000:.1f})"
                 for k in ("touch", "add 10 chunks", "delete", "search after a write")]
        ratio = r["full_reload_s"] / max(r["touch"]["median_s"], 1e-9)
        print(f"| {r['rows']:,} | " + " | ".join(cells) + f" | {r['full_reload_s'] * 1000:,.0f} | {ratio:,.0f}x faster |")
    write_json(args.out, {"benchmark": "dense_refresh", "command": command_line(), "machine": machine_info(),
                          "versions": versions("citeline", "numpy"), "seconds": round(time.perf_counter() - t0, 1),
                          "results": results})
    print(f"\nwrote {args.out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
