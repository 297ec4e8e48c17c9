"""Layers with PyTorch's default initialisation and normalisation constants.

Flax's defaults (lecun_normal kernels, zero biases, LayerNorm eps 1e-6) are different
distributions from PyTorch's. jaxgan's recipes reproduce the seeds, so their layers draw
weights and biases the way `torch.nn.Linear.reset_parameters` does:
kaiming_uniform_(a=sqrt(5)) for the weight, which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias. `parity_tests/test_init.py` holds this.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def uniform_bound(bound: float):
    """An initializer for U(-bound, bound)."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def torch_linear(features: int, fan_in: int, name: str) -> nn.Dense:
    """`torch.nn.Linear(fan_in, features)` with its default init; kernel (in, out) = weight.T."""
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Dense(features, kernel_init=uniform_bound(bound), bias_init=uniform_bound(bound), name=name)


# torch.nn.LayerNorm: eps 1e-5 (Flax's default is 1e-6), variance computed as E[(x - mean)^2].
TorchLayerNorm = lambda name=None: nn.LayerNorm(epsilon=1e-5, use_fast_variance=False, name=name)  # noqa: E731


def activation(name: str, negative_slope: float = 0.01):
    """The activation a recipe names, as a function."""
    if name == "relu":
        return nn.relu
    if name == "leaky_relu":
        return lambda x: nn.leaky_relu(x, negative_slope)
    if name == "sigmoid":
        return nn.sigmoid
    if name == "tanh":
        return jnp.tanh
    if name == "none":
        return lambda x: x
    raise ValueError(f"unknown activation {name!r}")
