"""FID, KID and mode coverage against closed forms and direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import ortho_group

from jaxgan.errors import JaxganError
from jaxgan.quality import metrics


def closed_form_fid_diagonal(mu1, var1, mu2, var2) -> float:
    """FID of N(mu1, diag var1) and N(mu2, diag var2): ||mu1 - mu2||^2 + sum(v1 + v2 - 2 sqrt(v1 v2))."""
    return float(np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2)))


@pytest.mark.parametrize("rotate", [False, True])
def test_fid_of_gaussians_matches_the_closed_form(rotate):
    d, n = 6, 100_000
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(0, 1, d), rng.normal(0, 1, d)
    var1, var2 = rng.uniform(0.5, 2.0, d), rng.uniform(0.5, 2.0, d)
    x = mu1 + np.sqrt(var1) * rng.standard_normal((n, d))
    y = mu2 + np.sqrt(var2) * rng.standard_normal((n, d))
    if rotate:  # FID is invariant under a common rotation: full covariances, same answer
        q = ortho_group.rvs(d, random_state=1)
        x, y = x @ q.T, y @ q.T
    want = closed_form_fid_diagonal(mu1, var1, mu2, var2)
    got = metrics.fid(x, y)
    # Tolerance from the estimator's error: the mean term fluctuates by 2 dmu.(e1 - e2) with
    # e ~ N(0, var/n), std 2 sqrt(sum dmu^2 (var1 + var2) / n) (~0.03 here); covariance
    # estimation adds a bias of order d^2 var / n (Chong & Forsyth 2020: FID's bias is linear
    # in 1/n) (~1e-3). Six standard deviations plus ten times that bias.
    std = 2 * np.sqrt(np.sum((mu1 - mu2) ** 2 * (var1 + var2)) / n)
    tol = 6 * std + 10 * d * d * max(var1.max(), var2.max()) / n
    assert abs(got - want) < tol, (got, want, tol)


def test_fid_covariance_term_alone():
    # Equal means: only Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(v1) - sqrt(v2))^2 remains.
    d, n = 5, 200_000
    rng = np.random.default_rng(1)
    var1, var2 = rng.uniform(0.5, 2.0, d), rng.uniform(0.5, 2.0, d)
    x = np.sqrt(var1) * rng.standard_normal((n, d))
    y = np.sqrt(var2) * rng.standard_normal((n, d))
    want = float(np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2))  # ~0.5
    # No mean signal: the error is the estimators' bias and noise, O(d^2 var / n) and
    # O(d var sqrt(2/n)) ~ 0.01 here; 0.05 is five of those.
    assert abs(metrics.fid(x, y) - want) < 0.05


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(2).normal(size=(2000, 64)) @ np.random.default_rng(3).normal(size=(64, 64))
    stats = metrics.feature_stats(x)
    # sqrtm(S S) = S to float64 rounding: what is left is ~1e-12 of the trace.
    assert abs(metrics.fid_from_stats(stats, stats)) < 1e-8 * np.trace(stats.cov())
    # Rank-deficient (fewer vectors than dimensions) still gives ~0.
    few = x[:40]
    assert abs(metrics.fid(few, few)) < 1e-6 * np.trace(np.cov(few, rowvar=False))


def test_accumulated_stats_equal_numpy_in_any_batching():
    rng = np.random.default_rng(4)
    x = 1e4 + rng.normal(size=(1001, 16))  # a large offset: raw second moments would cancel
    want_mu, want_cov = x.mean(axis=0), np.cov(x, rowvar=False)
    for batch in (1001, 100, 7):
        stats = metrics.feature_stats(x, batch_size=batch)
        np.testing.assert_allclose(stats.mean(), want_mu, rtol=1e-13)
        np.testing.assert_allclose(stats.cov(), want_cov, rtol=1e-9, atol=1e-12)
    merged = metrics.feature_stats(x[:300]).merge(metrics.feature_stats(x[300:] * 1.0))
    np.testing.assert_allclose(merged.cov(), want_cov, rtol=1e-9, atol=1e-12)
    assert merged.count == len(x)


def test_frechet_distance_falls_back_to_an_eps_offset(monkeypatch):
    calls = []
    real_sqrtm = scipy.linalg.sqrtm

    def failing_once(a, *args, **kwargs):
        calls.append(a.copy())
        if len(calls) == 1:
            return np.full_like(a, np.inf)  # what scipy < 1.16 gave for a singular product
        return real_sqrtm(a)

    monkeypatch.setattr(scipy.linalg, "sqrtm", failing_once)
    sigma = np.diag([1.0, 2.0, 0.0])
    got = metrics.frechet_distance(np.zeros(3), sigma, np.ones(3), sigma)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], (sigma + 1e-6 * np.eye(3)) @ (sigma + 1e-6 * np.eye(3)))
    assert got == pytest.approx(3.0, abs=1e-5)


def test_kid_matches_the_direct_formula():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 0.5
    k = lambda a, b: (a @ b.T / 3 + 1) ** 3  # noqa: E731
    m = 6
    direct = (sum(k(x, x)[i, j] for i in range(m) for j in range(m) if i != j)
              + sum(k(y, y)[i, j] for i in range(m) for j in range(m) if i != j)) / (m * (m - 1)) \
        - 2 * k(x, y).sum() / m**2
    got = metrics.mmd2_unbiased(k(x, x), k(x, y), k(y, y))
    assert float(got) == pytest.approx(direct, rel=1e-5)
    mean, std, subset = metrics.kid(x, y, subsets=3, subset_size=100)
    assert subset == 6 and std == pytest.approx(0.0, abs=1e-6)  # every subset is the whole set
    assert mean == pytest.approx(direct, rel=1e-4)


def test_kid_is_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(3000, 16)), rng.normal(size=(3000, 16))
    mean, std, subset = metrics.kid(x, y, subsets=50, subset_size=500)
    assert subset == 500
    # Unbiased: E[KID] = 0. The 50 subset means are correlated (the subsets overlap), so the
    # standard error of their mean is at most the std of one subset's estimate: |mean| < 3 std.
    assert abs(mean) < 3 * std
    shifted, shifted_std, _ = metrics.kid(x, y + 0.5, subsets=50, subset_size=500)
    assert shifted > 10 * shifted_std and shifted > 10 * abs(mean)


def test_kid_needs_two_vectors():
    with pytest.raises(JaxganError):
        metrics.kid(np.zeros((1, 4)), np.zeros((5, 4)))


def test_class_coverage_and_marginal_entropy():
    k = 10
    uniform = np.eye(k)[np.arange(1000) % k]
    stats = metrics.ClassStats(k)
    for chunk in np.array_split(uniform, 7):  # sums accumulate; one division at the end
        stats.update(chunk)
    s = stats.summary()
    assert s["classes_covered"] == 10 and s["marginal_entropy"] == pytest.approx(np.log(10))
    assert s["histogram"] == pytest.approx([0.1] * 10)

    collapsed = metrics.ClassStats(k).update(np.eye(k)[np.zeros(500, int)]).summary()
    assert collapsed["classes_covered"] == 1 and collapsed["marginal_entropy"] == pytest.approx(0.0)

    # A class with under 1% of the samples (a tenth of its fair share of 10%) is not covered.
    few = metrics.ClassStats(k).update(np.eye(k)[np.r_[np.full(5, 3), np.arange(10).repeat(100)]]).summary()
    assert few["classes_covered"] == 10
    rare = metrics.ClassStats(k).update(np.eye(k)[np.r_[np.full(9, 3), np.arange(9).repeat(110)]]).summary()
    assert rare["histogram"][9] == 0 and rare["classes_covered"] == 9
    # Soft predictions: the marginal is the mean probability, not the argmax histogram.
    soft = metrics.ClassStats(2).update(np.array([[0.5, 0.5], [0.5, 0.5]])).summary()
    assert soft["marginal_entropy"] == pytest.approx(np.log(2))
