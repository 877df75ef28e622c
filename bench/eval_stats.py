"""Are the evaluation statistics right? Simulations with a known truth, through the real code.

    python bench/eval_stats.py                 # 1000 simulations per cell: ~6 min on 2 cores
    python bench/eval_stats.py --sims 200      # quicker, wider intervals

Three checks, each reported with a 95 % Wilson interval of the simulated rate:

1. **Interval coverage.** ``stats.mean_ci`` (BCa bootstrap) on samples of n = 20, 50, 200 from
   known distributions (normal; exponential, skewed; Bernoulli(0.8), a pass/fail metric; a 1–5
   judge score with most mass on 4–5; Beta(2, 5), a token-F1-like score). Target ≈ 95 %.
2. **Gate false alarms (A/A).** Two runs of the *same* system on the same examples: each example
   has its own difficulty, each run adds its own noise (a binary verdict drawn from the example's
   success probability, or a continuous score with per-run noise). ``compare.gate`` is called on
   the two runs with margin 0 (the hardest case) and margin 0.02. Target ≤ 5 %.
   Also the family-wise false-alarm rate of ``compare.compare`` over 5 metrics (Holm): ≤ 5 %.
3. **Power at the reported MDE (A/B).** The gate reports a "detectable drop" (margin + MDE at
   80 % power, from the sample's own spread). Each simulation draws a candidate that is truly
   worse by the mean detectable drop reported in the A/A runs of that cell; the gate should
   catch it ≈ 80 % of the time.

Writes ``bench/results/eval_stats.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import REPO, command_line, machine_info, versions, write_json  # noqa: E402

from citeline.contracts import EvalRunRecord  # noqa: E402
from citeline.evaluate import stats  # noqa: E402
from citeline.evaluate.compare import compare, gate  # noqa: E402
from citeline.evaluate.runner import RunData  # noqa: E402

console = Console()

DISTRIBUTIONS = {
    "normal(0,1)": (lambda rng, n: rng.normal(0, 1, n), 0.0),
    "exponential(1)": (lambda rng, n: rng.exponential(1, n), 1.0),
    "bernoulli(0.8)": (lambda rng, n: (rng.random(n) < 0.8).astype(float), 0.8),
    "judge 1-5": (lambda rng, n: rng.choice([1, 2, 3, 4, 5], n, p=[0.05, 0.1, 0.15, 0.4, 0.3]).astype(float),
                  1 * 0.05 + 2 * 0.1 + 3 * 0.15 + 4 * 0.4 + 5 * 0.3),
    "beta(2,5)": (lambda rng, n: rng.beta(2, 5, n), 2 / 7),
}


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    z = 1.959964
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _run(run_id: str, values: dict[str, np.ndarray]) -> RunData:
    rec = EvalRunRecord(id=run_id, tenant="sim", dataset_name="sim", dataset_hash="same", config_hash=run_id,
                        status="done", created_at="")
    data = RunData(rec)
    n = len(next(iter(values.values())))
    data.examples = [f"e{i}" for i in range(n)]
    data.outputs = {e: {} for e in data.examples}
    for name, v in values.items():
        data.values[name] = {e: [float(x)] for e, x in zip(data.examples, v, strict=True)}
    return data


def _pair(rng, n: int, model: str, drop: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Scores of baseline and candidate on the same n examples; the candidate is worse by ``drop``."""
    if model == "binary":  # pass/fail with an example-specific success probability
        p = rng.beta(4, 1.5, n)
        base = (rng.random(n) < p).astype(float)
        cand = (rng.random(n) < np.clip(p - drop, 0, 1)).astype(float)
        return base, cand
    mu = rng.beta(2, 3, n)  # continuous 0-1 score (token F1-like), per-run noise sd 0.1
    base = mu + rng.normal(0, 0.1, n)
    cand = mu - drop + rng.normal(0, 0.1, n)
    return base, cand


def coverage(sims: int, sizes: list[int], seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for name, (draw, truth) in DISTRIBUTIONS.items():
        for n in sizes:
            hits = 0
            for s in range(sims):
                est = stats.mean_ci(draw(rng, n), seed=s)
                hits += est.low <= truth <= est.high
            lo, hi = wilson(hits, sims)
            rows.append({"distribution": name, "n": n, "coverage": hits / sims, "low": lo, "high": hi})
            console.print(f"  coverage {name:>15} n={n:<4} {hits / sims:.3f}")
    return rows


def gate_rates(sims: int, sizes: list[int], seed: int) -> list[dict]:
    rng = np.random.default_rng(seed + 1)
    rows = []
    for model in ("binary", "continuous"):
        for n in sizes:
            for margin in (0.0, 0.02):
                alarms, mdes = 0, []
                for s in range(sims):
                    b, c = _pair(rng, n, model)
                    res = gate(_run("a", {"m": b}), _run("b", {"m": c}), {"m": margin}, seed=s)
                    alarms += not res.passed
                    mdes.append(res.checks[0].mde)
                mde = float(np.mean([m for m in mdes if np.isfinite(m)]))
                caught = 0
                for s in range(sims):
                    b, c = _pair(rng, n, model, drop=mde)
                    caught += not gate(_run("a", {"m": b}), _run("b", {"m": c}), {"m": margin}, seed=s).passed
                fa_lo, fa_hi = wilson(alarms, sims)
                pw_lo, pw_hi = wilson(caught, sims)
                rows.append({"model": model, "n": n, "margin": margin, "false_alarm": alarms / sims,
                             "false_alarm_low": fa_lo, "false_alarm_high": fa_hi, "reported_mde": mde,
                             "power_at_mde": caught / sims, "power_low": pw_lo, "power_high": pw_hi})
                console.print(f"  gate {model:>10} n={n:<4} margin={margin:<4} false alarm {alarms / sims:.3f}  "
                              f"detectable drop {mde:.3f}  power {caught / sims:.3f}")
    return rows


def family_rates(sims: int, sizes: list[int], seed: int, metrics: int = 5) -> list[dict]:
    rng = np.random.default_rng(seed + 2)
    rows = []
    for n in sizes:
        alarms = 0
        for s in range(sims):
            pairs = [_pair(rng, n, "continuous" if k % 2 else "binary") for k in range(metrics)]
            a = _run("a", {f"m{k}": p[0] for k, p in enumerate(pairs)})
            b = _run("b", {f"m{k}": p[1] for k, p in enumerate(pairs)})
            alarms += any(c.significant for c in compare(a, b, seed=s))
        lo, hi = wilson(alarms, sims)
        rows.append({"n": n, "metrics": metrics, "family_false_alarm": alarms / sims, "low": lo, "high": hi})
        console.print(f"  compare A/A {metrics} metrics n={n:<4} any significant {alarms / sims:.3f}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sims", type=int, default=1000)
    ap.add_argument("--sizes", default="20,50,200")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "eval_stats.json")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    t0 = time.perf_counter()
    console.print(f"[bold]eval statistics[/]: {a.sims} simulations per cell, n = {sizes}")
    cov = coverage(a.sims, sizes, a.seed)
    gates = gate_rates(a.sims, sizes, a.seed)
    fam = family_rates(a.sims, sizes, a.seed)

    t = Table(title=f"BCa bootstrap 95% interval coverage ({a.sims} samples per cell; target ≈ 0.95)")
    t.add_column("distribution")
    for n in sizes:
        t.add_column(f"n={n}", justify="right")
    for name in DISTRIBUTIONS:
        t.add_row(name, *(f"{r['coverage']:.3f} [{r['low']:.3f}, {r['high']:.3f}]" for r in cov
                          if r["distribution"] == name))
    console.print(t)
    g = Table(title="release gate: A/A false alarms (target ≤ 0.05) and power at the reported detectable drop "
                    "(target ≈ 0.80)")
    for col in ("metric model", "n", "margin", "false alarm [95%]", "detectable drop", "power [95%]"):
        g.add_column(col, justify="left" if col == "metric model" else "right")
    for r in gates:
        g.add_row(r["model"], str(r["n"]), f"{r['margin']:g}",
                  f"{r['false_alarm']:.3f} [{r['false_alarm_low']:.3f}, {r['false_alarm_high']:.3f}]",
                  f"{r['reported_mde']:.3f}", f"{r['power_at_mde']:.3f} [{r['power_low']:.3f}, {r['power_high']:.3f}]")
    console.print(g)
    f = Table(title="eval compare, A/A over 5 metrics: any metric significant after Holm (target ≤ 0.05)")
    f.add_column("n", justify="right")
    f.add_column("family-wise false alarm [95%]", justify="right")
    for r in fam:
        f.add_row(str(r["n"]), f"{r['family_false_alarm']:.3f} [{r['low']:.3f}, {r['high']:.3f}]")
    console.print(f)
    seconds = time.perf_counter() - t0
    console.print(f"[dim]{seconds:.0f} s[/]")
    write_json(a.out, {"benchmark": "eval_stats", "command": command_line(), "machine": machine_info(),
                       "versions": versions("numpy", "scipy"), "sims": a.sims, "sizes": sizes, "seconds": seconds,
                       "coverage": cov, "gate": gates, "compare_family": fam})


if __name__ == "__main__":
    main()
