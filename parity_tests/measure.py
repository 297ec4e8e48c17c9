"""One observed difference and its tolerance: what every check returns and the report prints."""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional

import numpy as np

# The tolerances of SPEC.md "What parity means here".
LOSS_ABS = 1e-5  # Loss_D, Loss_G, D(x), D(G(z)); and sampled images after conversion
GRAD_REL = 1e-4  # gradients
STATE_REL = 1e-4  # params, BatchNorm statistics, Adam moments after 1 and 10 steps
INIT_Z = 5.0  # |mean / std difference| in standard errors
INIT_P = 1e-3  # two-sample KS test must not reject at this level

CHECKS = ("shapes", "init", "losses", "training", "pipeline")


@dataclasses.dataclass(frozen=True)
class Measurement:
    """`observed` must be <= `tolerance` (or >= it, for a p-value); no tolerance: reported only."""

    recipe: str
    check: str  # one of CHECKS (or 'convert')
    quantity: str  # what was compared, e.g. "grad D, max rel"
    observed: float
    tolerance: Optional[float]
    where: str = ""  # the worst tensor or key
    at_least: bool = False  # True for p-values

    @property
    def ok(self) -> bool:
        if self.tolerance is None:
            return True
        if not np.isfinite(self.observed):
            return False
        return self.observed >= self.tolerance if self.at_least else self.observed <= self.tolerance

    def describe(self) -> str:
        where = f" at {self.where}" if self.where else ""
        if self.tolerance is None:
            need = "reported only"
        else:
            need = f"need {'>=' if self.at_least else '<='} {self.tolerance:g}"
        return f"{self.recipe} {self.check}: {self.quantity} = {self.observed:.3g}{where} ({need})"


def rel_err(a, b) -> float:
    """max |a - b| / max |b|: the worst difference relative to the tensor's own scale."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    scale = np.max(np.abs(b)) if b.size else 0.0
    diff = np.max(np.abs(a - b)) if b.size else 0.0
    if scale == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return float(diff / scale)


def abs_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")


def worst(pairs: Iterable[tuple[str, float]]) -> tuple[float, str]:
    """(largest value, its name) of (name, value) pairs; (0, '') when empty."""
    best = (0.0, "")
    for name, value in pairs:
        if not value <= best[0]:  # also catches nan
            best = (value, name)
    return best


def assert_all_ok(measurements: list[Measurement]) -> None:
    bad = [m.describe() for m in measurements if not m.ok]
    assert not bad, "\n".join(bad)
