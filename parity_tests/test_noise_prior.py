"""Every recipe's noise prior is its seed's: jaxgan's z against the seed's own draw.

The parity tests hand torch the z jaxgan drew, so they cannot see a wrong prior. Here each
recipe's `gan.sample_z` is compared, by distribution, with what its seed module draws
(torch.randn in every seed, torch.rand in the book's first attempt): mean and standard
deviation within 5 standard errors, and a two-sample KS test not rejecting at p = 1e-3.
Seeded on both sides, so the outcome is fixed.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch
from scipy import stats

from jaxgan.config import CONFIG_DIR, load_config
from jaxgan.gan import build_gan
from torch_ref import models

N = 400_000  # enough to tell a z 2% too wide or narrow (the std within 0.8%)


def seed_draws(recipe: str, n: int) -> np.ndarray:
    """n values of z as the seed's loop draws them, in its own calls."""
    seed = models.SEED_MODULES[recipe]
    torch.manual_seed(0)
    if recipe == "myfgan_mnist_first":
        return torch.cat([seed.generate_random(1) for _ in range(n)]).numpy()
    if models.FLAVOURS[recipe] == "book":
        return torch.cat([seed.generate_random_seed(100) for _ in range(n // 100)]).numpy()
    draw = getattr(seed, "draw_z", None) or seed.draw_noise
    drawn, count = [], 0
    while count < n:  # batches of 100, as the seeds' loaders give them
        drawn.append(draw(100).reshape(-1))
        count += drawn[-1].numel()
    return torch.cat(drawn).numpy()[:n]


@pytest.mark.parametrize("recipe", sorted(models.SEED_MODULES))
def test_jaxgan_noise_has_the_seeds_distribution(recipe):
    config = load_config(CONFIG_DIR / f"{recipe}.yaml")
    gan = build_gan(config, (64, 64, 3) if config.model.arch == "dcgan" else (28, 28, 1))
    ours = np.asarray(gan.sample_z(jax.random.PRNGKey(0), N // config.model.z_dim + 1)).reshape(-1)[:N]
    theirs = seed_draws(recipe, N)
    assert len(theirs) == N
    se_mean = theirs.std() / np.sqrt(N)
    se_std = theirs.std() / np.sqrt(2 * (N - 1))
    assert abs(ours.mean() - theirs.mean()) <= 5 * se_mean * np.sqrt(2), (recipe, ours.mean(), theirs.mean())
    assert abs(ours.std() - theirs.std()) <= 5 * se_std * np.sqrt(2), (recipe, ours.std(), theirs.std())
    p = stats.ks_2samp(ours, theirs).pvalue
    assert p >= 1e-3, f"{recipe}: KS p = {p:.2e}: jaxgan's z is not drawn from the seed's prior"
