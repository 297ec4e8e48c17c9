"""FID statistics files in pytorch-fid's format: an .npz holding `mu` (d,) and `sigma` (d, d).

pytorch-fid (`save_fid_stats`, and `compute_statistics_of_path` reading any path ending in .npz),
TTUR and most papers' code exchange the real images' statistics this way: the features' mean
and their unbiased covariance (`np.cov`, ddof 1), float64. jaxgan writes the same two arrays
and adds three 0-d arrays saying where they came from, which pytorch-fid ignores:

  num_images   how many images the statistics summarise (FID falls as this grows)
  split        the real images' split ('train', 'test'), or 'generated'
  features     what computed the features, e.g. 'classifier fashion_mnist data 16d82e2b505296aa
               weights 0c5b...' or 'inception pool3 weights b6a0...'

A file without them (pytorch-fid's own) is read all the same; only its dimension can then be
checked. A file whose `features` names other features than the evaluation's is refused.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from typing import Optional, Union

import numpy as np

from jaxgan.errors import JaxganError
from jaxgan.files import atomic_path

FORMAT = "pytorch-fid's .npz format: mu (d,) and sigma (d, d), float64"


@dataclasses.dataclass(frozen=True)
class FidStatistics:
    """A Gaussian fitted to features, and what it was fitted to (None: not recorded)."""

    mu: np.ndarray  # (d,) float64
    sigma: np.ndarray  # (d, d) float64
    num_images: Optional[int] = None
    split: Optional[str] = None
    features: Optional[str] = None

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])


def from_feature_stats(stats, split: str, features: str) -> FidStatistics:
    """The FidStatistics of a `metrics.FeatureStats` (its mean and unbiased covariance)."""
    return FidStatistics(stats.mean(), stats.cov(), stats.count, split, features)


def write_stats(path: Union[str, Path], stats: FidStatistics) -> Path:
    """Writes `stats` to `path` (.npz, compressed as pytorch-fid's save_fid_stats does), at once."""
    path = Path(path)
    arrays = {"mu": np.asarray(stats.mu, np.float64), "sigma": np.asarray(stats.sigma, np.float64)}
    provenance = {"num_images": stats.num_images, "split": stats.split, "features": stats.features}
    arrays.update({k: np.asarray(v) for k, v in provenance.items() if v is not None})
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez adds no suffix
        np.savez_compressed(f, **arrays)
    return path


def read_stats(path: Union[str, Path], dim: int, features: Optional[str] = None) -> FidStatistics:
    """The statistics in `path`, checked against features of `dim` dimensions named `features`.

    Raises JaxganError (one line naming the file) for a file that cannot be read as an .npz, a
    missing `mu` or `sigma`, a shape that is not (dim,) and (dim, dim), a non-finite value, or
    a `features` entry that is not `features`.
    """
    path = Path(path)
    arrays = _load_npz(path)
    for key in ("mu", "sigma"):
        if key not in arrays:
            found = ", ".join(sorted(arrays)) or "none"
            raise JaxganError(f"{path}: no '{key}' array (keys found: {found}); expected {FORMAT}")
    mu, sigma = arrays["mu"], arrays["sigma"]
    check_gaussian(mu, sigma, dim, str(path))
    recorded = _text(arrays.get("features"))
    if features is not None and recorded is not None and recorded != features:
        raise JaxganError(f"{path}: statistics of other features ({recorded}); these are {features}")
    return FidStatistics(mu.astype(np.float64), sigma.astype(np.float64), _count(arrays.get("num_images"), path),
                         _text(arrays.get("split")), recorded)


def check_gaussian(mu: np.ndarray, sigma: np.ndarray, dim: int, where: str) -> None:
    """Refuses a mean and covariance that are not (dim,) and (dim, dim) finite real numbers."""
    for key, value, shape in (("mu", mu, (dim,)), ("sigma", sigma, (dim, dim))):
        if not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
            raise JaxganError(f"{where}: '{key}' holds {value.dtype} values, not real numbers; expected {FORMAT}")
        if value.shape != shape:
            raise JaxganError(f"{where}: '{key}' has shape {value.shape}, but the features here are {dim}-d "
                              f"(expected {shape}): statistics of other features?")
        bad = int(np.sum(~np.isfinite(value)))
        if bad:
            raise JaxganError(f"{where}: '{key}' holds {bad} non-finite value{'s' * (bad > 1)} (NaN or inf)")


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file (no pickled objects), or one line saying why not."""
    if not path.is_file():
        raise JaxganError(f"{path}: no such statistics file; expected {FORMAT}")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise JaxganError(f"{path}: a single .npy array, not an .npz; expected {FORMAT}")
        with npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        reason = (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise JaxganError(f"{path}: unreadable as an .npz ({reason}); expected {FORMAT}") from None


def _text(value: Optional[np.ndarray]) -> Optional[str]:
    return None if value is None else str(value)


def _count(value: Optional[np.ndarray], path: Path) -> Optional[int]:
    if value is None:
        return None
    if value.shape != () or not np.issubdtype(value.dtype, np.integer) or value < 0:
        raise JaxganError(f"{path}: 'num_images' is {value!r}, not a count of images")
    return int(value)


__all__ = ["FidStatistics", "check_gaussian", "from_feature_stats", "read_stats", "write_stats"]
