"""The statistics behind every reported number: intervals, paired tests, power, agreement.

All intervals are 95 % unless asked otherwise. Means get a BCa bootstrap interval (better than
the percentile interval on small, skewed samples); paired differences are tested with a sign-flip
permutation test (exact for small n), corrected across metrics with Holm. ``bench/eval_stats.py``
checks by simulation that the intervals cover and the gate's false-alarm rate holds.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps
from scipy.optimize import isotonic_regression

N_RESAMPLES = 2000
ALPHA = 0.05
POWER = 0.8


def _rng(seed):
    return np.random.default_rng(seed)


def fmt(v, digits: int = 3) -> str:
    """A reported number for tables and reports: "–" when there is none (None, NaN, infinite)."""
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def rounded(record) -> dict:
    """A result dataclass as JSON, floats rounded to 6 places."""
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(record).items()}


@dataclass(slots=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int

    def to_json(self) -> dict:
        return rounded(self)


def _degenerate(x: np.ndarray) -> bool:
    return len(x) < 3 or float(np.ptp(x)) == 0.0


def expanded_level(confidence: float, n: int) -> float:
    """Hesterberg's small-sample expansion: bootstrap intervals of a mean are too narrow by
    about a factor sqrt((n-1)/n) and a t- rather than normal quantile; asking for a slightly
    higher level gives intervals that cover as promised at n = 20 (checked by bench/eval_stats.py)."""
    if n < 3:
        return confidence
    tail = float(sps.norm.cdf(math.sqrt(n / (n - 1)) * sps.t.ppf((1 - confidence) / 2, n - 1)))
    return 1 - 2 * tail


def mean_ci(values, *, confidence: float = 0.95, seed=0, n_resamples: int = N_RESAMPLES) -> Estimate:
    """Mean with a BCa bootstrap interval (expanded for small n). Constant or tiny samples get a
    zero-width interval at the mean (n says how little that means)."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if len(x) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    m = float(x.mean())
    if _degenerate(x):
        return Estimate(m, m, m, len(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        level = expanded_level(confidence, len(x))
        res = sps.bootstrap((x,), np.mean, confidence_level=level, n_resamples=n_resamples, method="BCa",
                            vectorized=True, random_state=_rng(seed))
    lo, hi = res.confidence_interval
    if not (math.isfinite(lo) and math.isfinite(hi)):  # BCa can fail on near-constant data
        lo, hi = np.percentile(res.bootstrap_distribution, [50 * (1 - level), 50 * (1 + level)])
    return Estimate(m, float(lo), float(hi), len(x))


def statistic_ci(func, *arrays, confidence: float = 0.95, seed=0, n_resamples: int = N_RESAMPLES) -> Estimate:
    """Any statistic of paired samples (kappa, Spearman, a ratio) with a percentile bootstrap interval."""
    arrays = tuple(np.asarray(a, dtype=float) for a in arrays)
    value = float(func(*arrays))
    if len(arrays[0]) < 3:
        return Estimate(value, float("nan"), float("nan"), len(arrays[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sps.bootstrap(arrays, func, paired=True, vectorized=False, confidence_level=confidence,
                            n_resamples=n_resamples, method="percentile", random_state=_rng(seed))
    lo, hi = res.confidence_interval
    return Estimate(value, float(lo), float(hi), len(arrays[0]))


def sign_flip_p(d, *, alternative: str = "two-sided", seed=0, n_resamples: int = N_RESAMPLES) -> float:
    """p-value of mean(d) = 0 by randomly flipping the signs of paired differences."""
    d = np.asarray(d, dtype=float)
    if len(d) == 0:
        return 1.0
    if not np.any(d):
        return 1.0
    res = sps.permutation_test((d,), lambda x, axis=-1: np.mean(x, axis=axis), permutation_type="samples",
                               vectorized=True, n_resamples=n_resamples, alternative=alternative,
                               random_state=_rng(seed))
    return float(res.pvalue)


def sign_test_p(better: int, worse: int) -> float:
    """Two-sided exact binomial test of the examples that changed in each direction."""
    n = better + worse
    return 1.0 if n == 0 else float(sps.binomtest(better, n, 0.5).pvalue)


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (family-wise error control, no independence needed)."""
    items = sorted(pvalues.items(), key=lambda kv: kv[1])
    m, out, running = len(items), {}, 0.0
    for i, (name, p) in enumerate(items):
        running = max(running, min(1.0, (m - i) * p))
        out[name] = running
    return out


def z(q: float) -> float:
    return float(sps.norm.ppf(q))


def _quantiles(n: int, alpha: float, power: float, two_sided: bool) -> float:
    df = max(n - 1, 1)
    return float(sps.t.ppf(1 - alpha / 2 if two_sided else 1 - alpha, df) + sps.t.ppf(power, df))


def mde(sd: float, n: int, *, alpha: float = ALPHA, power: float = POWER, two_sided: bool = True) -> float:
    """Smallest true mean difference detected with ``power`` at this n (t approximation)."""
    if n < 2 or not math.isfinite(sd):
        return float("inf")
    return _quantiles(n, alpha, power, two_sided) * sd / math.sqrt(n)


def n_needed(sd: float, effect: float, *, alpha: float = ALPHA, power: float = POWER, two_sided: bool = True) -> int:
    """Examples needed to detect a true mean difference of ``effect`` with ``power``."""
    if effect <= 0:
        raise ValueError("effect must be positive")
    if sd == 0:
        return 2
    n = 2
    for _ in range(50):  # the t quantiles depend on n: iterate to the fixed point
        nxt = max(2, math.ceil((_quantiles(n, alpha, power, two_sided) * sd / effect) ** 2))
        if nxt == n:
            break
        n = nxt
    return n


def variance_components(matrix) -> dict[str, float]:
    """Within-example (run-to-run noise) and between-example variance of an examples × repeats
    matrix; ``noise_share`` is the part of a single run's variance that is just noise."""
    x = np.asarray(matrix, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        return {"within": 0.0, "between": float(np.var(x, ddof=1)) if x.size > 1 else 0.0, "noise_share": 0.0}
    r = x.shape[1]
    within = float(np.nanmean(np.nanvar(x, axis=1, ddof=1)))
    between = max(0.0, float(np.nanvar(np.nanmean(x, axis=1), ddof=1)) - within / r)
    total = within + between
    return {"within": within, "between": between, "noise_share": within / total if total else 0.0}


# ---------------------------------------------------------------- agreement (judge calibration)


def quadratic_kappa(a, b, *, low: int = 1, high: int = 5) -> float:
    """Cohen's kappa with quadratic weights for ordinal scores in [low, high]."""
    a = np.asarray(np.rint(a), dtype=int) - low
    b = np.asarray(np.rint(b), dtype=int) - low
    k = high - low + 1
    observed = np.zeros((k, k))
    np.add.at(observed, (np.clip(a, 0, k - 1), np.clip(b, 0, k - 1)), 1)
    observed /= observed.sum()
    expected = np.outer(observed.sum(1), observed.sum(0))
    i, j = np.indices((k, k))
    w = (i - j) ** 2 / (k - 1) ** 2
    denom = (w * expected).sum()
    return 1.0 if denom == 0 else float(1 - (w * observed).sum() / denom)


def spearman(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(sps.spearmanr(a, b).statistic)


def isotonic_map(judge, human, *, low: int = 1, high: int = 5) -> dict[int, float]:
    """Monotone (non-decreasing) mapping from each judge score to the expected human score."""
    judge = np.asarray(np.rint(judge), dtype=int)
    human = np.asarray(human, dtype=float)
    levels = sorted(set(judge.tolist()))
    means = np.array([human[judge == v].mean() for v in levels])
    weights = np.array([(judge == v).sum() for v in levels], dtype=float)
    fitted = isotonic_regression(means, weights=weights, increasing=True).x
    mapping = dict(zip(levels, fitted.tolist(), strict=True))
    # scores the judge never gave map to their nearest seen neighbour below (or above)
    for v in range(low, high + 1):
        if v not in mapping:
            below = [s for s in levels if s < v]
            mapping[v] = mapping[max(below)] if below else mapping[min(levels)]
    return {int(k): round(float(v), 4) for k, v in sorted(mapping.items())}
