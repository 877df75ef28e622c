"""Paired comparison of two runs on the same dataset, and the release gate built on it.

Examples are paired by id, so the noise that two systems share (a hard question is hard for
both) cancels. Per metric: the mean paired difference with a 95 % BCa bootstrap interval, a
sign-flip permutation p-value, Holm-corrected across metrics, the examples that got better or
worse, the minimum detectable effect at this n, and the n needed for a chosen effect.

The gate tests, per gated metric, H0 "the candidate is worse by at most the margin" against
H1 "worse by more than the margin", one-sided, Holm-corrected: it fails only when a regression
beyond the margin is statistically supported, so identical systems fail at most 5 % of the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from citeline.errors import EvalError
from citeline.evaluate import stats
from citeline.evaluate.stats import fmt
from citeline.evaluate.metrics import higher_is_better
from citeline.evaluate.runner import RunData

@dataclass(slots=True)
class MetricComparison:
    metric: str
    higher_is_better: bool
    n: int
    a: float
    b: float
    diff: float  # b - a
    low: float
    high: float
    p: float
    p_holm: float = 1.0
    better: int = 0
    worse: int = 0
    same: int = 0
    sign_p: float = 1.0
    mde: float = float("inf")
    n_for_effect: int | None = None
    variance: dict = field(default_factory=dict)

    @property
    def significant(self) -> bool:
        return self.p_holm < stats.ALPHA

    def to_json(self) -> dict:
        return stats.rounded(self) | {"significant": self.significant}


def check_comparable(a: RunData, b: RunData) -> None:
    ra, rb = a.record, b.record
    if ra.dataset_hash != rb.dataset_hash:
        raise EvalError(f"runs {ra.id} and {rb.id} were made on different datasets ({ra.dataset_name} "
                        f"{ra.dataset_hash} vs {rb.dataset_name} {rb.dataset_hash}); compare runs of the same dataset")
    for r in (ra, rb):
        if r.status != "done":
            raise EvalError(f"run {r.id} is {r.status}, not done; finish it (citeline eval run ... --resume {r.id})")


def paired_values(a: RunData, b: RunData, metric: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    pa, pb = a.per_example(metric), b.per_example(metric)
    ids = [ex for ex in a.examples if ex in pa and ex in pb]
    return ids, np.array([pa[i] for i in ids], float), np.array([pb[i] for i in ids], float)


def compare(a: RunData, b: RunData, *, metrics: list[str] | None = None, effect: float | None = None,
            seed: int = 0) -> list[MetricComparison]:
    check_comparable(a, b)
    names = metrics or [m for m in a.metrics if m in b.metrics]
    unknown = [m for m in names if m not in a.metrics or m not in b.metrics]
    if unknown:
        raise EvalError(f"metric(s) {', '.join(unknown)} not in both runs; they have {', '.join(a.metrics)}")
    out = []
    for name in names:
        ids, xa, xb = paired_values(a, b, name)
        if len(ids) == 0:
            continue
        d = xb - xa
        hib = higher_is_better(name)
        est = stats.mean_ci(d, seed=seed)
        sd = float(np.std(d, ddof=1)) if len(d) > 1 else float("nan")
        gains = d > 1e-12 if hib else d < -1e-12
        losses = d < -1e-12 if hib else d > 1e-12
        c = MetricComparison(
            metric=name, higher_is_better=hib, n=len(ids), a=float(xa.mean()), b=float(xb.mean()), diff=est.value,
            low=est.low, high=est.high, p=stats.sign_flip_p(d, seed=seed), better=int(gains.sum()),
            worse=int(losses.sum()), same=int(len(d) - gains.sum() - losses.sum()),
            sign_p=stats.sign_test_p(int(gains.sum()), int(losses.sum())), mde=stats.mde(sd, len(ids)))
        if effect is not None and sd == sd and sd > 0:
            c.n_for_effect = stats.n_needed(sd, effect)
        if a.record.repeats > 1 or b.record.repeats > 1:
            c.variance = {"a": stats.variance_components(a.matrix(name)),
                          "b": stats.variance_components(b.matrix(name))}
        out.append(c)
    adjusted = stats.holm({c.metric: c.p for c in out})
    for c in out:
        c.p_holm = adjusted[c.metric]
    return out


# ---------------------------------------------------------------- gate


@dataclass(slots=True)
class GateCheck:
    metric: str
    margin: float
    n: int
    baseline: float
    candidate: float
    worsening: float  # mean of (baseline - candidate) for higher-is-better metrics
    low: float
    high: float
    p: float
    p_holm: float = 1.0
    mde: float = float("inf")
    calibrated: str | None = None

    @property
    def failed(self) -> bool:
        return self.p_holm < stats.ALPHA

    @property
    def non_inferior(self) -> bool:
        """The interval shows the candidate is worse by less than the margin."""
        return self.high < self.margin

    def to_json(self) -> dict:
        return stats.rounded(self) | {"failed": self.failed, "non_inferior": self.non_inferior}


@dataclass(slots=True)
class GateResult:
    baseline: str
    candidate: str
    checks: list[GateCheck]
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not any(c.failed for c in self.checks)

    def to_json(self) -> dict:
        return {"baseline": self.baseline, "candidate": self.candidate, "passed": self.passed,
                "checks": [c.to_json() for c in self.checks], "warnings": self.warnings}


def parse_margins(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            margin = float(value)
        except ValueError:
            margin = -1.0
        if not sep or not name.strip() or margin < 0:
            raise EvalError(f"--max-drop takes METRIC=MARGIN with a margin ≥ 0 (e.g. token_f1=0.02), not {item!r}")
        out[name.strip()] = margin
    return out


def _calibrate(values: np.ndarray, calibration: dict) -> np.ndarray:
    """Judge scores mapped to the expected human score by the stored monotone mapping."""
    table = {int(k): float(v) for k, v in calibration["mapping"]["expected_human"].items()}
    levels = sorted(table)
    return np.interp(values, levels, [table[k] for k in levels])


def gate(base: RunData, cand: RunData, margins: dict[str, float], *, calibrations: dict[str, dict] | None = None,
         seed: int = 0) -> GateResult:
    check_comparable(base, cand)
    if not margins:
        raise EvalError("give at least one --max-drop METRIC=MARGIN")
    result = GateResult(base.record.id, cand.record.id, [])
    for name, margin in margins.items():
        if name not in base.metrics or name not in cand.metrics:
            raise EvalError(f"metric {name!r} is not in both runs; they have {', '.join(base.metrics)}")
        ids, xb, xc = paired_values(base, cand, name)
        if len(ids) < 2:
            raise EvalError(f"metric {name!r} applies to {len(ids)} paired example(s); a gate needs at least 2")
        cal = (calibrations or {}).get(name)
        if cal:
            xb, xc = _calibrate(xb, cal), _calibrate(xc, cal)
            if not cal["trusted"]:
                result.warnings.append(f"{name}: judge calibration {cal['id']} has low agreement with people; "
                                       "treat this check with care")
        elif name in ("correctness", "faithfulness"):
            result.warnings.append(f"{name}: the judge is not calibrated (citeline eval calibrate --labels ...)")
        w = (xb - xc) if higher_is_better(name) else (xc - xb)
        est = stats.mean_ci(w, seed=seed)
        sd = float(np.std(w, ddof=1))
        result.checks.append(GateCheck(
            metric=name, margin=margin, n=len(ids), baseline=float(xb.mean()), candidate=float(xc.mean()),
            worsening=est.value, low=est.low, high=est.high,
            p=stats.sign_flip_p(w - margin, alternative="greater", seed=seed),
            mde=margin + stats.mde(sd, len(ids), two_sided=False), calibrated=cal["id"] if cal else None))
    adjusted = stats.holm({c.metric: c.p for c in result.checks})
    for c in result.checks:
        c.p_holm = adjusted[c.metric]
    return result


def gate_markdown(result: GateResult, base_label: str = "", cand_label: str = "") -> str:
    head = "✅ **citeline eval gate passed**" if result.passed else "❌ **citeline eval gate failed**"
    lines = [head, "", f"Baseline `{result.baseline}` {base_label} vs candidate `{result.candidate}` {cand_label}".strip(),
             "", "| metric | n | baseline | candidate | worse by [95% CI] | margin | p (Holm) | detectable drop | verdict |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c in result.checks:
        verdict = ("**regression**" if c.failed else "no worse than margin" if c.non_inferior
                   else "not shown worse")
        lines.append(f"| {c.metric}{' (calibrated)' if c.calibrated else ''} | {c.n} | {fmt(c.baseline)} | {fmt(c.candidate)} | "
                     f"{fmt(c.worsening)} [{fmt(c.low)}, {fmt(c.high)}] | {c.margin:g} | {fmt(c.p_holm)} | "
                     f"{fmt(c.mde)} | {verdict} |")
    lines += ["", "n = paired examples the metric applies to. The gate fails only when a drop beyond the margin is "
              "statistically supported (one-sided sign-flip test, Holm-corrected, α = 0.05). "
              "'detectable drop' is the true drop the gate catches 80 % of the time at this n."]
    lines += [f"> ⚠️ {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"
