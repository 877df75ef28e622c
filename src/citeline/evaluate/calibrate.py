"""Judge calibration: how far can a judge's 1–5 score be trusted, measured against a person's.

Labels are JSON Lines rows ``{"id": ..., "human": 1-5}`` plus either ``"judge": 1-5`` in the
same row or a stored run whose judge scored those ids. Agreement comes with bootstrap 95 %
intervals; a monotone mapping (isotonic regression) turns judge scores into expected human
scores, and the judge threshold that best separates "good" (human ≥ 4) answers is found. The
calibration is stored; gates on that judge's metric use its mapping and warn when it is weak.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from citeline.errors import EvalError
from citeline.evaluate import stats

#: below these the judge's scores are not trusted to gate releases
MIN_KAPPA = 0.6
MIN_KAPPA_LOW = 0.4
MIN_LABELS = 20
GOOD = 4


@dataclass(slots=True)
class Calibration:
    judge: str
    n: int
    stats: dict
    mapping: dict
    trusted: bool
    warnings: list[str] = field(default_factory=list)
    pairs: list[tuple[float, float]] = field(default_factory=list)  # (judge, human), for the scatter plot

    def to_json(self) -> dict:
        return {"judge": self.judge, "n": self.n, "stats": self.stats, "mapping": self.mapping,
                "trusted": self.trusted, "warnings": self.warnings}


def _score(value, line: int, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or not 1 <= value <= 5:
        raise EvalError(f"line {line}: {field_name}: a score is a whole number from 1 to 5, not {value!r}")
    return int(value)


def load_labels(path: str | Path) -> list[dict]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise EvalError(f"cannot read labels {path}: {e.strerror}") from None
    rows, problems, seen = [], [], {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict) or "id" not in raw or "human" not in raw:
                raise EvalError(f"line {n}: a label row needs id and human")
            row = {"id": str(raw["id"]), "human": _score(raw["human"], n, "human"), "line": n}
            if raw.get("judge") is not None:
                row["judge"] = _score(raw["judge"], n, "judge")
        except json.JSONDecodeError as e:
            problems.append(f"line {n}: not valid JSON ({e.msg})")
            continue
        except EvalError as e:
            problems.append(str(e))
            continue
        if row["id"] in seen:
            problems.append(f"line {n}: id: duplicate id {row['id']!r} (first on line {seen[row['id']]})")
            continue
        seen[row["id"]] = n
        rows.append(row)
    if problems:
        raise EvalError(f"{path}: {len(problems)} problem(s):\n  " + "\n  ".join(problems[:50]))
    if not rows:
        raise EvalError(f"{path}: no labels")
    return rows


def attach_judge_scores(rows: list[dict], run, judge: str) -> list[dict]:
    """Fill each row's judge score from a stored run (RunData); unknown ids are an error."""
    scores = run.per_example(judge)
    if not scores:
        raise EvalError(f"run {run.record.id} has no {judge!r} scores (run it with --judge and an llm.base_url)")
    missing = [r for r in rows if "judge" not in r and r["id"] not in scores]
    if missing:
        raise EvalError(f"line {missing[0]['line']}: id {missing[0]['id']!r} has no {judge} score in run "
                        f"{run.record.id} ({len(missing)} such rows)")
    for r in rows:
        r.setdefault("judge", scores[r["id"]])
    return rows


def _best_threshold(judge: np.ndarray, good: np.ndarray) -> dict:
    best = {"threshold": None, "balanced_accuracy": 0.0}
    for t in range(2, 6):
        pred = judge >= t
        tpr = (pred & good).sum() / good.sum() if good.sum() else 1.0
        tnr = (~pred & ~good).sum() / (~good).sum() if (~good).sum() else 1.0
        ba = float((tpr + tnr) / 2)
        if ba > best["balanced_accuracy"]:
            best = {"threshold": t, "balanced_accuracy": round(ba, 4)}
    return best


def calibrate(rows: list[dict], *, judge: str = "correctness", seed: int = 0) -> Calibration:
    unscored = [r for r in rows if "judge" not in r]
    if unscored:
        raise EvalError(f"line {unscored[0]['line']}: no judge score; add \"judge\" to the labels or pass --run RUN")
    h = np.array([r["human"] for r in rows], float)
    j = np.array([r["judge"] for r in rows], float)
    est = {
        "kappa_quadratic": stats.statistic_ci(stats.quadratic_kappa, j, h, seed=seed),
        "spearman": stats.statistic_ci(stats.spearman, j, h, seed=seed),
        "mae": stats.statistic_ci(lambda a, b: float(np.mean(np.abs(a - b))), j, h, seed=seed),
        "exact_agreement": stats.statistic_ci(lambda a, b: float(np.mean(np.rint(a) == b)), j, h, seed=seed),
    }
    mapping = {"expected_human": {str(k): v for k, v in stats.isotonic_map(j, h).items()},
               "good_if_judge_at_least": _best_threshold(j, h >= GOOD), "good_means_human_at_least": GOOD}
    kappa = est["kappa_quadratic"]
    warnings = []
    if len(rows) < MIN_LABELS:
        warnings.append(f"only {len(rows)} labels; {MIN_LABELS}+ are needed for intervals narrow enough to trust")
    if kappa.value < MIN_KAPPA or not kappa.low >= MIN_KAPPA_LOW:
        warnings.append(f"agreement is too low to trust this judge: weighted kappa {kappa.value:.2f} "
                        f"[{kappa.low:.2f}, {kappa.high:.2f}] (needs ≥ {MIN_KAPPA} with a lower bound ≥ {MIN_KAPPA_LOW})")
    return Calibration(judge=judge, n=len(rows), stats={k: v.to_json() for k, v in est.items()}, mapping=mapping,
                       trusted=not warnings, warnings=warnings, pairs=list(zip(j.tolist(), h.tolist(), strict=True)))
