"""(3) Losses: with the same (converted) weights and the same batch, noise and dropout masks,
Loss_D, Loss_G, D(x), D(G(z)) agree to 1e-5 in float32; and the criteria themselves reproduce
torch's BCELoss / MSELoss at the edges, backward included. (The gradients are held to 1e-4 in
float64 by test_training.py, which compares those of its first step; the float32 gradients
are reported by `python -m parity_tests.report`.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxgan.losses import CRITERIA, binary_cross_entropy
from parity_tests import checks
from parity_tests.measure import assert_all_ok
from parity_tests.recipes import RECIPES

EDGES = np.array([0.0, 1e-45, 1e-30, 1e-12, 1e-7, 0.01, 0.5, 0.99, 1 - 1e-7, 1.0], np.float32)


@pytest.mark.parametrize("recipe", RECIPES)
def test_losses_and_gradients_match_torch(recipe):
    assert_all_ok(checks.losses(recipe))


@pytest.mark.parametrize("target", [0.0, 1.0, 0.3])
def test_bce_forward_and_backward_match_torch_at_the_edges(target):
    """BCELoss clamps each log at -100 and has its own backward, (p - y) / max(p(1-p), 1e-12)."""
    p = torch.tensor(EDGES, requires_grad=True)
    y = torch.full_like(p, target)
    loss = torch.nn.functional.binary_cross_entropy(p, y, reduction="none")
    loss.sum().backward()
    ours, vjp = jax.vjp(lambda q: binary_cross_entropy(q, jnp.full_like(q, target)), jnp.asarray(EDGES))
    (grad,) = vjp(jnp.ones_like(ours))
    # atol: XLA on CPU flushes the denormal p = 1e-45 to zero, torch keeps it (loss 1e-45,
    # gradient 1e-45 / 1e-12 = 1.4e-33 in torch, 0 in jax)
    np.testing.assert_allclose(np.asarray(ours), loss.detach().numpy(), rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(np.asarray(grad), p.grad.numpy(), rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("kind", ["bce", "mse"])
def test_mean_criteria_match_torch(kind):
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, size=(7, 1)).astype(np.float32)
    for target in (0.0, 1.0):
        t_p = torch.tensor(p, requires_grad=True)
        module = torch.nn.BCELoss() if kind == "bce" else torch.nn.MSELoss()
        loss = module(t_p, torch.full_like(t_p, target))
        loss.backward()
        value, grad = jax.value_and_grad(lambda q, t=target: CRITERIA[kind](q, t))(jnp.asarray(p))
        assert abs(float(value) - loss.item()) <= 2e-7 * abs(loss.item())  # the mean's rounding
        np.testing.assert_allclose(np.asarray(grad), t_p.grad.numpy(), rtol=1e-6, atol=1e-9)
