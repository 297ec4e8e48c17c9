"""Fully connected GANs: seed 002 (Fashion-MNIST) and the book's MNIST/CelebA MLPs (seed 001).

Both networks see images as NHWC and flatten them in H, W, C order, which for one channel is
PyTorch's `images.reshape(B, -1)` and for the book's CelebA is its (218, 178, 3) layout.
Layers are named fc0, fc1, ... (and norm0, ... for LayerNorm) in the order of the torch
`nn.Sequential`, which is what the weight converter maps.
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models.layers import TorchLayerNorm, activation, torch_linear


def _mlp(x, hidden: Sequence[int], out_features: int, act: str, negative_slope: float,
         norm: str, output: str):
    """Linear -> activation [-> LayerNorm] for each hidden width, then Linear -> output.

    Called inside a compact `__call__`, so the layers belong to the calling module.
    """
    f = activation(act, negative_slope)
    for i, width in enumerate(hidden):
        x = f(torch_linear(width, x.shape[-1], name=f"fc{i}")(x))  # (B, width)
        if norm == "layernorm":
            x = TorchLayerNorm(name=f"norm{i}")(x)  # (B, width)
    x = torch_linear(out_features, x.shape[-1], name=f"fc{len(hidden)}")(x)  # (B, out_features)
    return activation(output)(x)


class MLPGenerator(nn.Module):
    """z (B, z_dim) -> images (B, H, W, C)."""

    image_shape: tuple[int, int, int]
    hidden: Sequence[int]
    activation: str = "relu"
    negative_slope: float = 0.01
    norm: str = "none"
    output: str = "tanh"

    @nn.compact
    def __call__(self, z, train: bool = True):
        x = _mlp(z, self.hidden, math.prod(self.image_shape), self.activation,
                 self.negative_slope, self.norm, self.output)  # (B, H*W*C)
        return x.reshape((z.shape[0], *self.image_shape))  # (B, H, W, C)


class MLPDiscriminator(nn.Module):
    """images (B, H, W, C) -> probability of being real, (B,)."""

    hidden: Sequence[int]
    activation: str = "leaky_relu"
    negative_slope: float = 0.2
    norm: str = "none"
    output: str = "sigmoid"

    @nn.compact
    def __call__(self, images, train: bool = True):
        x = images.reshape((images.shape[0], -1))  # (B, H*W*C), torch's view(B, -1)
        x = _mlp(x, self.hidden, 1, self.activation, self.negative_slope, self.norm, self.output)  # (B, 1)
        return jnp.reshape(x, (-1,))  # (B,)
