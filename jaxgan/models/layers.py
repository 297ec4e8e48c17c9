"""Layers with PyTorch's default initialisation and normalisation constants.

Flax's defaults (lecun_normal kernels, zero biases, LayerNorm eps 1e-6) are different
distributions from PyTorch's. jaxgan's recipes reproduce the seeds, so their layers draw
weights and biases the way `torch.nn.Linear.reset_parameters` does:
kaiming_uniform_(a=sqrt(5)) for the weight, which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias. `parity_tests/test_init.py` holds this.

The convolutions and BatchNorm below reproduce `nn.Conv2d`, `nn.ConvTranspose2d` and
`nn.BatchNorm2d` on NHWC arrays (the convolution arithmetic is in `jaxgan.ops.conv`);
`parity_tests/test_layers.py` compares them with torch.
Weight layouts (what a torch -> flax converter applies):

  torch                               flax
  Linear.weight (out, in)             Dense kernel (in, out)            = W.T
  Conv2d.weight (out, in, kh, kw)     TorchConv2d kernel (kh, kw, in, out)
                                                                        = W.transpose(2, 3, 1, 0)
  ConvTranspose2d.weight              TorchConvTranspose2d kernel (kh, kw, out, in)
    (in, out, kh, kw)                                                   = W.transpose(2, 3, 1, 0)
  BatchNorm weight / bias             TorchBatchNorm params scale / bias
  running_mean / running_var          TorchBatchNorm batch_stats mean / var
  (num_batches_tracked)               (none: momentum is fixed, the counter is never read)
"""

from __future__ import annotations

import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.ops import conv


def _flat(shape) -> tuple[int]:
    # Drawing a flat vector and reshaping gives bit-identical values to drawing `shape`
    # directly (threefry counters run over the row-major index), but XLA:CPU compiles the
    # flat draw in ~0.2 s where a 4-d one takes ~2 s: it keeps init and the tests fast.
    return (math.prod(shape),)


def uniform_bound(bound: float):
    """An initializer for U(-bound, bound)."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, _flat(shape), dtype, -bound, bound).reshape(shape)

    return init


def torch_linear(features: int, fan_in: int, name: str) -> nn.Dense:
    """`torch.nn.Linear(fan_in, features)` with its default init; kernel (in, out) = weight.T."""
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Dense(features, kernel_init=uniform_bound(bound), bias_init=uniform_bound(bound), name=name)


def normal(mean: float, std: float):
    """An initializer for N(mean, std^2): DCGAN's weights_init (N(0, 0.02) conv, N(1, 0.02) BN)."""

    def init(key, shape, dtype=jnp.float32):
        return (mean + std * jax.random.normal(key, _flat(shape), dtype)).reshape(shape)

    return init


# Conv weights: DCGAN's weights_init draws N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0.
DCGAN_CONV_INIT = normal(0.0, 0.02)
DCGAN_BN_SCALE_INIT = normal(1.0, 0.02)


class TorchConv2d(nn.Module):
    """`nn.Conv2d(in, features, kernel_size, stride, padding, bias=False)` on NHWC inputs.

    kernel: (kh, kw, in, out) = torch weight (out, in, kh, kw).transpose(2, 3, 1, 0). The
    convolution itself is `jaxgan.ops.conv.conv2d` (torch's function, a gradient fast on XLA:CPU).
    """

    features: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    kernel_init: Callable[..., Any] | None = None  # None: torch's default init

    @nn.compact
    def __call__(self, x):
        k, in_features = self.kernel_size, x.shape[-1]
        # torch's _calculate_fan_in_and_fan_out on (out, in, kh, kw): fan_in = in * kh * kw.
        init = self.kernel_init or uniform_bound(1.0 / math.sqrt(in_features * k * k))
        kernel = self.param("kernel", init, (k, k, in_features, self.features))
        # (B, H, W, in) -> (B, H', W', features), H' = (H + 2p - k) // s + 1
        return conv.conv2d(x, kernel, self.stride, self.padding)


class TorchConvTranspose2d(nn.Module):
    """`nn.ConvTranspose2d(in, features, kernel_size, stride, padding, bias=False)` on NHWC.

    kernel: (kh, kw, out, in) = torch weight (in, out, kh, kw).transpose(2, 3, 1, 0), i.e. the
    kernel of the forward conv (out -> in channels) whose input-gradient this layer is; that is
    what `jax.lax.conv_transpose(..., transpose_kernel=True)` expects. The convolution itself
    is `jaxgan.ops.conv.conv_transpose2d` (torch's function, forward and gradient fast on XLA:CPU).
    """

    features: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    kernel_init: Callable[..., Any] | None = None  # None: torch's default init

    @nn.compact
    def __call__(self, x):
        k, in_features = self.kernel_size, x.shape[-1]
        # torch reads fan_in from weight.size(1) * kh * kw; ConvTranspose2d's weight is
        # (in, out, kh, kw), so its fan_in is out * kh * kw (not in * kh * kw).
        init = self.kernel_init or uniform_bound(1.0 / math.sqrt(self.features * k * k))
        kernel = self.param("kernel", init, (k, k, self.features, in_features))
        # (B, H, W, in) -> (B, H', W', features), H' = (H - 1) * s - 2p + k
        return conv.conv_transpose2d(x, kernel, self.stride, self.padding)


def torch_conv(features: int, kernel_size: int, stride: int, padding: int, name: str,
               init: str = "torch_default") -> TorchConv2d:
    """`nn.Conv2d(in, features, kernel_size, stride, padding, bias=False)`; `init` as model.init."""
    kernel_init = DCGAN_CONV_INIT if init == "dcgan" else None
    return TorchConv2d(features, kernel_size, stride, padding, kernel_init=kernel_init, name=name)


def torch_conv_transpose(features: int, kernel_size: int, stride: int, padding: int, name: str,
                         init: str = "torch_default") -> TorchConvTranspose2d:
    """`nn.ConvTranspose2d(in, features, kernel_size, stride, padding, bias=False)`."""
    kernel_init = DCGAN_CONV_INIT if init == "dcgan" else None
    return TorchConvTranspose2d(features, kernel_size, stride, padding, kernel_init=kernel_init, name=name)


class TorchBatchNorm(nn.Module):
    """`torch.nn.BatchNorm1d/2d` (affine, track_running_stats) over all axes but the last.

    Train mode normalises with the batch mean and the *biased* batch variance, and updates
    running = (1 - momentum) * running + momentum * batch with torch's momentum 0.1, using the
    *unbiased* variance var * n / (n - 1) for running_var. Flax's `nn.BatchNorm` puts the biased
    variance into its running average (and its `momentum` is the weight of the old value), so
    its running_var drifts from torch's by n / (n - 1); this module exists for that reason
    (`parity_tests/test_layers.py::test_batchnorm_*`). Eval mode uses the running statistics.

    Variables: params 'scale' (torch weight), 'bias'; batch_stats 'mean' (init 0), 'var'
    (init 1). Initialising (`module.init`) never moves the statistics.
    """

    scale_init: Callable[..., Any] = nn.initializers.ones  # DCGAN: DCGAN_BN_SCALE_INIT
    momentum: float = 0.1  # torch's sense: the weight of the new batch statistic
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x, train: bool):
        features = x.shape[-1]
        scale = self.param("scale", self.scale_init, (features,))
        bias = self.param("bias", nn.initializers.zeros, (features,))
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((features,), jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((features,), jnp.float32))
        dtype = x.dtype
        x = x.astype(jnp.promote_types(dtype, jnp.float32))  # statistics in float32 also under bfloat16
        if train:
            axes = tuple(range(x.ndim - 1))
            n = x.size // features
            if n < 2:
                # torch: "Expected more than 1 value per channel when training"
                raise ValueError(f"TorchBatchNorm in train mode needs more than 1 value per channel, got {n}")
            mean = jnp.mean(x, axes)
            var = jnp.mean(jnp.square(x - mean), axes)  # biased: what torch normalises with
            if not self.is_initializing():
                m = self.momentum
                unbiased = jax.lax.stop_gradient(var) * (n / (n - 1))
                ra_mean.value = (1.0 - m) * ra_mean.value + m * jax.lax.stop_gradient(mean)
                ra_var.value = (1.0 - m) * ra_var.value + m * unbiased
        else:
            mean, var = ra_mean.value, ra_var.value
        return ((x - mean) * (jax.lax.rsqrt(var + self.epsilon) * scale) + bias).astype(dtype)


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
