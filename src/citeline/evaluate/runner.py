"""Run a dataset through the real pipeline, score every example, store everything as it goes.

Each (example, repeat) result is written when it is scored, so a run stopped by a failing judge
endpoint, Ctrl-C or a killed process keeps its work: ``citeline eval run DATASET --resume RUN``
does only what is missing. A run is only summarised once every example is in.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from citeline.answer.response import AnswerResponse
from citeline.contracts import EvalRunRecord
from citeline.errors import EvalError, ModelError
from citeline.evaluate import stats
from citeline.evaluate.dataset import Dataset, SourceResolver
from citeline.evaluate.metrics import NOT_ANSWERED, decline_counts, default_metrics, higher_is_better
from citeline.store.sql import now
from citeline.store.sql_evals import owner_state


@dataclass(slots=True)
class RunData:
    """A stored run loaded for statistics: per metric, per example, the values of each repeat."""

    record: EvalRunRecord
    values: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)  # example id -> first repeat's output
    examples: list[str] = field(default_factory=list)
    unscored: Counter = field(default_factory=Counter)  # metric -> judge replies that did not parse

    def per_example(self, metric: str) -> dict[str, float]:
        """Mean over repeats per example, for examples where the metric applies."""
        out = {}
        for ex, vals in self.values.get(metric, {}).items():
            got = [v for v in vals if v is not None]
            if got:
                out[ex] = float(np.mean(got))
        return out

    def matrix(self, metric: str) -> np.ndarray:
        rows = [v for v in self.values.get(metric, {}).values() if all(x is not None for x in v)]
        return np.asarray(rows, dtype=float) if rows else np.zeros((0, 0))

    @property
    def metrics(self) -> list[str]:
        return list(self.values)

    # -- files: a run exported to JSON, e.g. committed as the baseline a CI gate compares with --
    FORMAT = "citeline-eval-run/1"
    SLIM = ("answer", "decision", "reason", "confidence", "should_decline")

    def to_file(self, path: Path) -> None:
        results = [{"id": ex, "output": {k: self.outputs[ex].get(k) for k in self.SLIM},
                    "metrics": {m: self.values[m].get(ex) for m in self.values if ex in self.values[m]}}
                   for ex in self.examples]
        record = self.record.to_json() | {"settings": self.record.settings}
        path.write_text(json.dumps({"format": self.FORMAT, "run": record, "results": results}, indent=1,
                                   ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def from_file(cls, path: Path) -> RunData:
        try:
            blob = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise EvalError(f"cannot read run file {path}: {e}") from None
        if not isinstance(blob, dict) or blob.get("format") != cls.FORMAT:
            raise EvalError(f"{path} is not an exported evaluation run (citeline eval export RUN -o FILE)")
        r = blob["run"]
        record = EvalRunRecord(id=r["id"], tenant=r["tenant"], dataset_name=r["dataset"],
                               dataset_hash=r["dataset_hash"], config_hash=r["config_hash"], status=r["status"],
                               created_at=r["created_at"], label=r.get("label", ""), repeats=r.get("repeats", 1),
                               n_examples=r.get("n_examples", 0), settings=r.get("settings", {}),
                               summary=r.get("summary", {}), finished_at=r.get("finished_at"))
        data = cls(record)
        for row in blob["results"]:
            data.examples.append(row["id"])
            data.outputs[row["id"]] = row["output"]
            for m, vals in row["metrics"].items():
                data.values.setdefault(m, {})[row["id"]] = vals
        return data


def load_run(store, run_id: str, tenant: str | None = None) -> RunData:
    record = store.get_eval_run(run_id, tenant)
    if record is None:
        raise EvalError(f"no evaluation run {run_id!r} (see citeline eval list)")
    data = RunData(record)
    for ex, rep, output, metrics in store.eval_results(run_id):
        if ex not in data.outputs:
            data.examples.append(ex)
            data.outputs[ex] = output
        for name, m in metrics.items():
            slot = data.values.setdefault(name, {}).setdefault(ex, [])
            while len(slot) <= rep:
                slot.append(None)
            slot[rep] = m.get("value")
            if m.get("value") is None and str(m.get("reason", "")).startswith(("unparseable", "metric failed")):
                data.unscored[name] += 1
    return data


def summarize(data: RunData) -> dict:
    """Per-metric means with 95 % intervals, decline precision/recall, decisions, judge failures."""
    metrics = {}
    for name in data.metrics:
        est = stats.mean_ci(list(data.per_example(name).values()))
        metrics[name] = est.to_json() | {"higher_is_better": higher_is_better(name)}
        if data.record.repeats > 1:
            metrics[name]["variance"] = {k: round(v, 6) for k, v in
                                         stats.variance_components(data.matrix(name)).items()}
    pairs = [(o["should_decline"], o["decision"] in NOT_ANSWERED) for o in data.outputs.values()
             if o.get("should_decline") is not None]
    decline = decline_counts(pairs)
    if pairs:
        should = np.array([p[0] for p in pairs], float)
        did = np.array([p[1] for p in pairs], float)

        def precision(s, d):
            return (s * d).sum() / d.sum() if d.sum() else 1.0

        def recall(s, d):
            return (s * d).sum() / s.sum() if s.sum() else 1.0

        if should.sum():
            decline["recall"] = stats.statistic_ci(recall, should, did).to_json()
        if did.sum():
            decline["precision"] = stats.statistic_ci(precision, should, did).to_json()
    return {"n_examples": len(data.examples), "repeats": data.record.repeats, "metrics": metrics,
            "decline": decline, "decisions": dict(Counter(o["decision"] for o in data.outputs.values())),
            "unscored": dict(data.unscored)}


def _stored_output(output: AnswerResponse, example) -> dict:
    """The whole response (minus the question, which the dataset holds) and the example's label."""
    data = output.model_dump(mode="json", exclude={"question"})
    data["should_decline"] = example.should_decline
    return data


class EvalRunner:
    """Runs examples through an :class:`~citeline.answer.service.AskService` and scores them."""

    def __init__(self, settings, store, service, *, use_llm: bool = False, judges: list | None = None,
                 k: int = 5):
        self.settings, self.store, self.service = settings, store, service
        self.use_llm = use_llm
        self.judges = judges or []
        self.k = k

    def run(self, dataset: Dataset, *, repeats: int = 1, label: str = "", resume: str | None = None,
            progress: Callable[[int, int], None] | None = None) -> EvalRunRecord:
        if repeats < 1 or repeats > 20:
            raise EvalError(f"--repeats must be between 1 and 20, not {repeats}")
        tenant = self.settings.tenant
        doc_ids = SourceResolver(self.store, tenant).check(dataset)
        metrics = default_metrics(self.service.embedder, doc_ids, self.settings.llm, self.k) + self.judges
        config_hash = self.settings.config_hash()
        run = self._open(dataset, repeats, label, resume, config_hash)
        done = self.store.done_eval_keys(run.id)
        todo = [(ex, r) for ex in dataset.examples for r in range(run.repeats) if (ex.id, r) not in done]
        total, finished = len(dataset) * run.repeats, len(dataset) * run.repeats - len(todo)
        try:
            for ex, rep in todo:
                output = self.service.ask(ex.question, ex.principal_for(tenant), use_llm=self.use_llm)
                scored = {m.name: self._score(m, ex, output) for m in metrics}
                self.store.put_eval_result(run.id, ex.id, rep, _stored_output(output, ex), scored, now())
                finished += 1
                if progress:
                    progress(finished, total)
        except (ModelError, KeyboardInterrupt) as e:
            why = "interrupted" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}"
            self.store.finish_eval_run(run.id, status="interrupted", error=f"stopped after {finished} of {total}: {why}")
            if isinstance(e, KeyboardInterrupt):
                raise
            raise EvalError(f"run {run.id} stopped after {finished} of {total} results ({why}); "
                            f"its results are kept: resume with citeline eval run {dataset.path} --resume {run.id}"
                            ) from None
        summary = summarize(load_run(self.store, run.id))
        self.store.finish_eval_run(run.id, status="done", summary=summary, finished_at=now())
        return self.store.get_eval_run(run.id)

    @staticmethod
    def _score(metric, example, output) -> dict:
        t0 = time.perf_counter()
        try:
            result = metric.score(example, output)
        except ModelError:
            raise
        except Exception as e:  # a metric bug must not lose the run; it shows as unscored with why
            return {"value": None, "reason": f"metric failed: {type(e).__name__}: {e}"}
        return {"value": None if result.value is None else round(float(result.value), 6), "reason": result.reason,
                "ms": round((time.perf_counter() - t0) * 1000, 2)}

    def _open(self, dataset: Dataset, repeats: int, label: str, resume: str | None, config_hash: str) -> EvalRunRecord:
        if resume is None:
            return self.store.create_eval_run(
                tenant=self.settings.tenant, dataset_name=dataset.name, dataset_hash=dataset.hash,
                config_hash=config_hash, n_examples=len(dataset), repeats=repeats, label=label,
                settings={"dataset_path": dataset.path, "llm": self.use_llm,
                          "judges": [j.name for j in self.judges], "k": self.k}, created_at=now())
        run = self.store.get_eval_run(resume, self.settings.tenant)
        if run is None:
            raise EvalError(f"no evaluation run {resume!r} to resume (see citeline eval list)")
        if run.dataset_hash != dataset.hash:
            raise EvalError(f"run {resume} was made on a different dataset (hash {run.dataset_hash}, this file "
                            f"{dataset.hash}); start a new run instead of resuming")
        if run.config_hash != config_hash:
            raise EvalError(f"run {resume} was made with config {run.config_hash}, the current one is {config_hash}; "
                            "resume with the same settings (or start a new run)")
        if run.status == "done":
            raise EvalError(f"run {resume} is already complete")
        if run.status == "running":
            state, where = owner_state(run.owner)
            if state == "alive":
                raise EvalError(f"run {resume} is still running ({where}): let it finish, or stop it and resume then")
        self.store.finish_eval_run(run.id, status="running", error=None)
        return run
