"""The statistics, checked against values worked out by hand (coverage and power are measured
by simulation in bench/eval_stats.py, not here)."""

from __future__ import annotations

import numpy as np
import pytest

from citeline.evaluate import stats


def test_quadratic_kappa_limits_and_a_hand_worked_case():
    assert stats.quadratic_kappa([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == pytest.approx(1.0)
    assert stats.quadratic_kappa([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    # a = [1,1,2,2], b = [1,2,2,2] on a 1..2 scale: observed disagreement 1/4, expected 1/2*3/4 + 1/2*1/4 = 1/2
    assert stats.quadratic_kappa([1, 1, 2, 2], [1, 2, 2, 2], high=2) == pytest.approx(1 - 0.25 / 0.5)
    rng = np.random.default_rng(1)
    assert abs(stats.quadratic_kappa(rng.integers(1, 6, 4000), rng.integers(1, 6, 4000))) < 0.05


def test_holm_adjusts_in_order_and_keeps_monotone():
    assert stats.holm({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
    assert stats.holm({"x": 0.5}) == {"x": 0.5}
    assert stats.holm({"x": 0.6, "y": 0.7}) == {"x": 1.0, "y": 1.0}


def test_sign_flip_is_exact_for_small_n():
    assert stats.sign_flip_p([1, 1, 1, 1, 1]) == pytest.approx(2 / 32)
    assert stats.sign_flip_p([1, 1, 1, 1, 1], alternative="greater") == pytest.approx(1 / 32)
    assert stats.sign_flip_p([0, 0, 0]) == 1.0
    assert stats.sign_test_p(9, 1) == pytest.approx(22 / 1024)


def test_mean_interval_contains_the_mean_and_degenerate_samples_are_flat():
    x = np.random.default_rng(0).exponential(size=60)
    est = stats.mean_ci(x)
    assert est.low < x.mean() < est.high and est.n == 60
    assert est.high - est.low == pytest.approx(2 * 1.96 * x.std(ddof=1) / np.sqrt(60), rel=0.35)
    flat = stats.mean_ci([0.5] * 10)
    assert (flat.value, flat.low, flat.high) == (0.5, 0.5, 0.5)
    assert stats.mean_ci([None, None]).n == 0
    assert stats.mean_ci([1.0, None, 3.0]).value == 2.0


def test_mde_and_n_needed_are_inverse():
    sd, n = 0.3, 120
    effect = stats.mde(sd, n)
    assert effect == pytest.approx((1.980100 + 0.844652) * sd / np.sqrt(n), rel=1e-4)  # t quantiles, df 119
    assert stats.n_needed(sd, effect) in (n, n + 1)
    assert stats.mde(sd, n, two_sided=False) < effect
    with pytest.raises(ValueError):
        stats.n_needed(sd, 0)


def test_variance_components_separate_noise_from_examples():
    rng = np.random.default_rng(3)
    example_means = rng.normal(0, 2.0, size=(400, 1))       # between-example variance 4
    noisy = example_means + rng.normal(0, 1.0, size=(400, 5))  # within-example variance 1
    v = stats.variance_components(noisy)
    assert v["within"] == pytest.approx(1.0, rel=0.1)
    assert v["between"] == pytest.approx(4.0, rel=0.2)
    assert v["noise_share"] == pytest.approx(0.2, abs=0.05)


def test_isotonic_mapping_is_monotone_and_fills_unused_scores():
    judge = [1, 2, 2, 3, 3, 4, 5, 5]
    human = [2, 3, 1, 2, 2, 5, 4, 5]
    m = stats.isotonic_map(judge, human)
    values = [m[k] for k in range(1, 6)]
    assert values == sorted(values)
    assert m[1] == pytest.approx(2.0) and m[2] == pytest.approx(2.0)  # 3 and 1 pooled with the 2s of score 3
    assert stats.isotonic_map([2, 4], [1, 5]) == {1: 1.0, 2: 1.0, 3: 1.0, 4: 5.0, 5: 5.0}
