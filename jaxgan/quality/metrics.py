"""FID, KID and mode coverage from features and class probabilities, accumulated batch by batch.

Everything here follows habit 8 (STYLE.md): statistics are running sums, merged by addition,
divided once at the end.

FID (Heusel et al. 2017) is the Fréchet distance between two Gaussians fitted to features:

    FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))

with the mean and the unbiased covariance (`np.cov`, ddof 1) computed as pytorch-fid does,
and the matrix square root by `scipy.linalg.sqrtm` with pytorch-fid's fallback: when the
product is singular, eps = 1e-6 is added to both diagonals and the root taken again.

KID (Binkowski et al. 2018) is the unbiased MMD^2 estimate with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over random subsets; the defaults are torch-fidelity's
(100 subsets of 1,000, subsets drawn by `np.random.RandomState(2020).choice` without
replacement), reported as mean and std over the subsets.

Mode coverage uses a classifier's probabilities: the class histogram of argmax predictions,
the number of classes that receive a fair share of samples, and the entropy of the marginal
p(y) = E_x p(y|x) (ln K for a generator that covers K classes evenly, 0 for total collapse).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import warnings
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import JaxganError

FID_EPS = 1e-6  # pytorch-fid's calculate_frechet_distance(eps=1e-6)
# scipy >= 1.16 no longer returns inf/nan for a matrix without a square root (pytorch-fid's
# trigger for the eps fallback) but a finite, wrong result: its relative residual
# ||X X - A||_F / ||A||_F is the signal that old `sqrtm(..., disp=False)` returned as errest.
SQRTM_MAX_RESIDUAL = 1e-3
KID_SUBSETS = 100  # torch-fidelity's defaults
KID_SUBSET_SIZE = 1000
KID_SEED = 2020
# A class is "covered" when it receives at least this fraction of its fair share 1/K of the
# samples: for 10 classes, at least 1% of the samples.
COVERAGE_SHARE = 0.1


def few_blas_threads(dim: int):
    """One BLAS thread for small matrices: on a busy CPU, OpenBLAS's thread pool makes a
    128 x 128 sqrtm take seconds instead of milliseconds (threadpoolctl, where installed)."""
    controller = _blas_controller() if dim <= 512 else None
    return controller.limit(limits=1, user_api="blas") if controller is not None else contextlib.nullcontext()


@functools.lru_cache(maxsize=1)
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


# ----------------------------------------------------------------------------------------------
# Feature statistics: running sums, merged by addition, divided once.


@dataclasses.dataclass
class FeatureStats:
    """Running sums of features for a mean and a covariance.

    The sums are of x - shift (float64), where `shift` is the first batch's mean: a covariance
    from raw second moments, S/n - mu mu^T, cancels catastrophically when |mu| >> std; shifted
    sums keep it exact to float64 rounding. The covariance does not depend on the shift.
    """

    dim: int
    count: int = 0
    shift: Optional[np.ndarray] = None
    total: Optional[np.ndarray] = None  # sum of (x - shift), (d,)
    outer: Optional[np.ndarray] = None  # sum of (x - shift)(x - shift)^T, (d, d)

    def update(self, features) -> "FeatureStats":
        x = np.asarray(features, np.float64).reshape(-1, self.dim)
        if not len(x):
            return self
        if self.shift is None:
            self.shift = x.mean(axis=0)
            self.total = np.zeros(self.dim)
            self.outer = np.zeros((self.dim, self.dim))
        y = x - self.shift
        self.count += len(x)
        self.total += y.sum(axis=0)
        with few_blas_threads(self.dim):
            self.outer += y.T @ y
        return self

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """The statistics of both sets (`other`'s sums re-centred on this shift)."""
        if other.count == 0:
            return self
        if self.count == 0:
            return dataclasses.replace(other, shift=other.shift.copy(), total=other.total.copy(),
                                       outer=other.outer.copy())
        delta = other.shift - self.shift  # other's x - self.shift = (x - other.shift) + delta
        total = other.total + other.count * delta
        outer = (other.outer + np.outer(other.total, delta) + np.outer(delta, other.total)
                 + other.count * np.outer(delta, delta))
        return FeatureStats(self.dim, self.count + other.count, self.shift.copy(),
                            self.total + total, self.outer + outer)

    def mean(self) -> np.ndarray:
        return self.shift + self.total / self.count

    def cov(self) -> np.ndarray:
        """The unbiased covariance (ddof 1), as np.cov(x, rowvar=False) and pytorch-fid."""
        if self.count < 2:
            raise JaxganError(f"a covariance needs at least 2 feature vectors, got {self.count}")
        centred = self.total / self.count
        return (self.outer - self.count * np.outer(centred, centred)) / (self.count - 1)


def feature_stats(features, batch_size: int = 10_000) -> FeatureStats:
    """FeatureStats of a whole (N, d) array, accumulated in batches."""
    features = np.asarray(features)
    stats = FeatureStats(features.shape[-1])
    for i in range(0, len(features), batch_size):
        stats.update(features[i : i + batch_size])
    return stats


# ----------------------------------------------------------------------------------------------
# FID


def _sqrtm(matrix: np.ndarray) -> tuple[np.ndarray, float]:
    """scipy's principal square root and its relative residual."""
    try:
        import scipy.linalg
    except ImportError:
        raise JaxganError("FID needs scipy for its matrix square root: pip install scipy") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LinAlgWarning for singular products: handled below
        root = scipy.linalg.sqrtm(matrix)
    root = np.asarray(root)
    if not np.isfinite(root).all():
        return root, np.inf
    norm = np.linalg.norm(matrix) or 1.0
    return root, float(np.linalg.norm(root @ root - matrix) / norm)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = FID_EPS) -> float:
    """The Fréchet distance of N(mu1, sigma1) and N(mu2, sigma2), as pytorch-fid computes it."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise JaxganError(f"FID of features of different sizes: {mu1.shape} and {mu2.shape}")
    diff = mu1 - mu2
    with few_blas_threads(mu1.size):
        covmean, residual = _sqrtm(sigma1 @ sigma2)
        if residual > SQRTM_MAX_RESIDUAL:
            # pytorch-fid: "fid calculation produces singular product; adding eps to diagonal"
            offset = np.eye(sigma1.shape[0]) * eps
            covmean, residual = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        # Numerical error may leave a small imaginary part; a large one means no real root.
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise JaxganError(
                f"FID: the square root of the covariance product has an imaginary component "
                f"{np.max(np.abs(covmean.imag)):.3g}; too few samples for {mu1.size}-d features?"
            )
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_stats(a: FeatureStats, b: FeatureStats) -> float:
    with few_blas_threads(a.dim):
        return frechet_distance(a.mean(), a.cov(), b.mean(), b.cov())


def fid(features_a, features_b) -> float:
    """FID of two (N, d) feature arrays."""
    return fid_from_stats(feature_stats(features_a), feature_stats(features_b))


# ----------------------------------------------------------------------------------------------
# KID


def polynomial_kernel(x, y, degree: int = 3, gamma: Optional[float] = None, coef0: float = 1.0):
    """k(x, y) = (gamma x.y + coef0)^degree, gamma = 1/d by default (the KID paper's kernel)."""
    gamma = 1.0 / x.shape[-1] if gamma is None else gamma
    return (gamma * (x @ y.T) + coef0) ** degree


def mmd2_unbiased(k_xx, k_xy, k_yy):
    """The unbiased MMD^2 of two equal-size samples from their kernel matrices (m x m).

    (sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)) / (m (m - 1)) - 2 sum_{i,j} k(x_i, y_j) / m^2
    """
    m = k_xx.shape[0]
    kt_xx = jnp.sum(k_xx) - jnp.trace(k_xx)
    kt_yy = jnp.sum(k_yy) - jnp.trace(k_yy)
    return (kt_xx + kt_yy) / (m * (m - 1)) - 2.0 * jnp.sum(k_xy) / (m * m)


@jax.jit
def _subset_mmd2(a, b):
    """MMD^2 of each pair of subsets a[s] (m, d) and b[s] (m, d), s = 0..S-1."""

    def one(ab):
        x, y = ab
        return mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(x, y), polynomial_kernel(y, y))

    return jax.lax.map(one, (a, b))


def kid(features_a, features_b, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
        seed: int = KID_SEED, chunk: int = 10) -> tuple[float, float, int]:
    """KID of two (N, d) feature arrays: (mean, std over subsets, subset size used).

    Subsets are drawn as torch-fidelity draws them (one RandomState(seed), for each subset a
    choice from `features_a` then one from `features_b`, without replacement). The subset
    size is capped at the smaller set (torch-fidelity refuses instead). The kernels run in
    float32 on the device, `chunk` subsets per call (one compiled shape per subset size);
    entries are O(1) and summed in a reduction tree, and the subsets' MMDs are averaged in
    float64.
    """
    a, b = np.asarray(features_a, np.float32), np.asarray(features_b, np.float32)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise JaxganError(f"KID needs at least 2 feature vectors in each set, got {len(a)} and {len(b)}")
    rng = np.random.RandomState(seed)
    picks = [(rng.choice(len(a), m, replace=False), rng.choice(len(b), m, replace=False)) for _ in range(subsets)]
    mmds = []
    for start in range(0, subsets, chunk):
        group = picks[start : start + chunk]
        pad = chunk - len(group)
        group = group + group[:1] * pad  # a fixed shape; the padding's results are dropped
        out = _subset_mmd2(np.stack([a[i] for i, _ in group]), np.stack([b[j] for _, j in group]))
        mmds.append(np.asarray(out, np.float64)[: chunk - pad])
    mmds = np.concatenate(mmds)
    return float(mmds.mean()), float(mmds.std()), m


# ----------------------------------------------------------------------------------------------
# Mode coverage


@dataclasses.dataclass
class ClassStats:
    """Running sums of a classifier's verdicts: argmax counts and summed probabilities."""

    num_classes: int
    count: int = 0
    counts: Optional[np.ndarray] = None  # (K,) int64: samples whose argmax is each class
    prob_sum: Optional[np.ndarray] = None  # (K,) float64: sum over samples of p(y|x)

    def __post_init__(self):
        if self.counts is None:
            self.counts = np.zeros(self.num_classes, np.int64)
            self.prob_sum = np.zeros(self.num_classes, np.float64)

    def update(self, probs) -> "ClassStats":
        p = np.asarray(probs, np.float64).reshape(-1, self.num_classes)
        self.count += len(p)
        self.counts += np.bincount(p.argmax(axis=1), minlength=self.num_classes)
        self.prob_sum += p.sum(axis=0)
        return self

    def summary(self, share: float = COVERAGE_SHARE) -> dict:
        """histogram (fractions), classes_covered, marginal_entropy (nats), max_entropy = ln K."""
        k = self.num_classes
        hist = self.counts / max(self.count, 1)
        marginal = self.prob_sum / max(self.count, 1)
        nz = marginal[marginal > 0]
        return {
            "histogram": hist.tolist(),
            "classes_covered": int(np.sum(hist >= share / k)),
            "num_classes": k,
            "marginal_entropy": float(-np.sum(nz * np.log(nz))),
            "max_entropy": float(np.log(k)),
        }
