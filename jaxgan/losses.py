"""GAN criteria with PyTorch's exact semantics.

`torch.nn.BCELoss` is not plain cross-entropy: it clamps each log term at -100 (so a
saturated D gives a loss of 100, not inf) and its backward is its own formula,
(p - y) / max(p * (1 - p), 1e-12), not the derivative of the clamped forward. Both are
reproduced here; `parity_tests/test_losses.py` compares them with torch at the edges.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_LOG_CLAMP = -100.0  # torch: std::max(log(x), -100)
_GRAD_EPS = 1e-12  # torch: EPSILON in binary_cross_entropy_backward


@jax.custom_vjp
def binary_cross_entropy(p, target):
    """Elementwise BCE of probabilities `p` against `target`, as torch computes it."""
    log_p = jnp.maximum(jnp.log(p), _LOG_CLAMP)
    log_1mp = jnp.maximum(jnp.log1p(-p), _LOG_CLAMP)
    return (target - 1.0) * log_1mp - target * log_p


def _bce_fwd(p, target):
    return binary_cross_entropy(p, target), (p, target)


def _bce_bwd(residuals, g):
    p, target = residuals
    grad_p = g * (p - target) / jnp.maximum(p * (1.0 - p), _GRAD_EPS)
    grad_target = g * (jnp.log1p(-p) - jnp.log(p))
    return grad_p, grad_target


binary_cross_entropy.defvjp(_bce_fwd, _bce_bwd)


def bce_loss(p, target):
    """`nn.BCELoss()` (mean reduction)."""
    return jnp.mean(binary_cross_entropy(p, jnp.broadcast_to(target, p.shape).astype(p.dtype)))


def mse_loss(p, target):
    """`nn.MSELoss()` (mean reduction)."""
    return jnp.mean(jnp.square(p - target))


CRITERIA = {"bce": bce_loss, "mse": mse_loss}
