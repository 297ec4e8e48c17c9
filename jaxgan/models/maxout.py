"""The maxout GAN of seed 004 (Goodfellow et al. 2014's MNIST model, as the seed writes it).

Layers carry the seed's attribute names, so the torch `state_dict` maps one to one
(Linear weight (out, in) -> Dense kernel (in, out) = W.T):

  torch (seed 004)                 flax
  G linear_1 / linear_2 / linear_3 params linear_1 / linear_2 / linear_3 {kernel, bias}
  D max_1.linear, max_2.linear     params max_1/linear, max_2/linear {kernel, bias}
  D linear                         params linear {kernel, bias}

All Linears keep PyTorch's default init. The generator's last activation is the seed's ReLU
(as written), not Tanh; the data is ToTensor's [0, 1].
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.config import ModelConfig
from jaxgan.errors import JaxganError
from jaxgan.models.layers import activation, torch_linear


class Maxout(nn.Module):
    """The seed's `Maxout(in, features, k)`: Linear(in, features * k), then the max of k pieces.

    torch's `x.view(-1, features, k).max(dim=2)` reads Linear output j as unit j // k, piece
    j % k; `reshape(..., features, k).max(-1)` is the same row-major split.
    """

    features: int
    pieces: int

    @nn.compact
    def __call__(self, x):
        y = torch_linear(self.features * self.pieces, x.shape[-1], name="linear")(x)  # (B, features * k)
        return jnp.max(y.reshape((*y.shape[:-1], self.features, self.pieces)), axis=-1)  # (B, features)


class MaxoutGenerator(nn.Module):
    """z (B, z_dim) -> images (B, H, W, C): Linear -> act for each width, Linear -> output."""

    image_shape: tuple[int, int, int]
    hidden: Sequence[int] = (1200, 1200)
    activation: str = "relu"
    negative_slope: float = 0.01
    output: str = "relu"  # seed 004: x = F.relu(self.linear_3(x))

    @nn.compact
    def __call__(self, z, train: bool = True):
        f = activation(self.activation, self.negative_slope)
        x = z
        for i, width in enumerate(self.hidden):
            x = f(torch_linear(width, x.shape[-1], name=f"linear_{i + 1}")(x))  # (B, width)
        x = torch_linear(math.prod(self.image_shape), x.shape[-1], name=f"linear_{len(self.hidden) + 1}")(x)
        x = activation(self.output)(x)  # (B, H*W*C)
        return x.reshape((z.shape[0], *self.image_shape))  # (B, H, W, C)


class MaxoutDiscriminator(nn.Module):
    """images (B, H, W, C) -> probability of being real, (B,).

    Maxout(in -> hidden[0], k) . Dropout(p) . Maxout(hidden[0] -> hidden[1], k) . Linear(., 1)
    . sigmoid (a Dropout follows every Maxout but the last).

    `dropout_mask` (parity tests): instead of drawing from the 'dropout' rng, use these keep
    masks, one (B, width) bool/0-1 array per Dropout (a bare array when there is one). Kept
    units are scaled by 1 / (1 - p), as torch and flax both do.
    """

    hidden: Sequence[int] = (240, 240)
    pieces: int = 5
    dropout: float = 0.8
    output: str = "sigmoid"

    @nn.compact
    def __call__(self, images, train: bool = True, dropout_mask: Any = None):
        x = images.reshape((images.shape[0], -1))  # (B, H*W*C), torch's view(B, -1)
        masks = dropout_mask
        if masks is not None and not isinstance(masks, (list, tuple)):
            masks = (masks,)
        for i, width in enumerate(self.hidden):
            x = Maxout(width, self.pieces, name=f"max_{i + 1}")(x)  # (B, width)
            if i == len(self.hidden) - 1 or self.dropout == 0.0:
                continue
            if masks is not None and train:
                keep = jnp.asarray(masks[i]).astype(x.dtype)
                x = x * (keep / (1.0 - self.dropout))  # torch: input * (bernoulli(1-p) / (1-p))
            else:
                x = nn.Dropout(self.dropout, deterministic=not train, name=f"drop_{i + 1}")(x)
        x = torch_linear(1, x.shape[-1], name="linear")(x)  # (B, 1)
        return activation(self.output)(x).reshape((-1,))  # (B,)


def build_maxout(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
    """Seed 004's pair; widths, pieces, dropout and activations all come from the recipe."""
    g, d = cfg.generator, cfg.discriminator
    if cfg.init != "torch_default":
        raise JaxganError(f"model.init '{cfg.init}' is for conv nets; model.arch 'maxout' uses 'torch_default'")
    if not g.hidden or not d.hidden:
        raise JaxganError("model.arch 'maxout' needs model.generator.hidden and model.discriminator.hidden "
                          "(seed 004: [1200, 1200] and [240, 240])")
    if d.maxout_pieces is None:
        raise JaxganError("model.arch 'maxout' needs model.discriminator.maxout_pieces (seed 004: 5)")
    generator = MaxoutGenerator(image_shape, tuple(g.hidden), g.activation, g.negative_slope, g.output)
    discriminator = MaxoutDiscriminator(tuple(d.hidden), d.maxout_pieces, d.dropout, d.output)
    return generator, discriminator
