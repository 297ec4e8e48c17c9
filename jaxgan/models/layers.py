"""Layers with PyTorch's default initialisation and normalisation constants.

Flax's defaults (lecun_normal kernels, zero biases, LayerNorm eps 1e-6) are different
distributions from PyTorch's. jaxgan's recipes reproduce the seeds, so their layers draw
weights and biases the way `torch.nn.Linear.reset_parameters` does:
kaiming_uniform_(a=sqrt(5)) for the weight, which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias. `parity_tests/test_init.py` holds this.

The convolutions and BatchNorm below reproduce `nn.Conv2d`, `nn.ConvTranspose2d` and
`nn.BatchNorm2d` on NHWC arrays; `parity_tests/test_layers.py` compares them with torch.
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

import functools
import math
import os
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.errors import JaxganError


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

_CONV_DIMS = ("NHWC", "HWIO", "NHWC")


# --- convolutions as functions -----------------------------------------------------------------
#
# Why the convolutions are not just `lax.conv_general_dilated` differentiated by JAX: the
# gradients JAX derives are convolutions XLA:CPU runs through a slow generic loop instead of
# its Eigen kernels. Measured on the 2-core dev box (benchmarks/conv_transpose.py, batch 128):
#
#   * transposed conv (lhs-dilated): its kernel gradient is a convolution of the dilated input
#     with the output gradient over a window the size of the feature map; ConvTranspose2d(512
#     -> 256, 4, 2, 1) on 4x4: forward 136 ms, forward+backward 13.9 s (torch: 195 / 632 ms).
#     The DCGAN generator's forward+backward took 29 s (torch 2.7 s).
#   * strided conv: its kernel gradient (a window-dilated conv, window = feature map) is fast
#     at the top level of a jit but ~100x slower inside a while loop, i.e. inside the lax.scan
#     of steps.make_train_chunk (batch 32, Conv2d(64 -> 128, 4, 2, 1) from 32x32: 24 ms in a
#     jit, 2.7 s in a scan; the whole DCGAN step at batch 16: 0.35 s jitted, 9.1 s in the scan).
#
# The functions below give both convolutions a custom VJP made of operations XLA:CPU runs fast
# in both contexts, without changing the function computed:
#
#   * conv2d(x, K, s, p)            forward: XLA's strided convolution (fast as it is).
#   * conv_transpose2d(x, K, s, p)  forward: `_conv2d_transpose` below, ONE stride-1
#                                   convolution with a (J, J, out, s*s*in) "sub-pixel" kernel,
#                                   J = ceil(k / s), then depth-to-space and a crop.
#   * input gradients               each is the other's forward: the input gradient of conv2d
#                                   is conv_transpose2d with the same kernel, and vice versa.
#   * kernel gradients              `_conv2d_kernel_grad`: space-to-depth of the (padded)
#                                   activation, then J*J matmuls that contract over batch and
#                                   space (no convolution with a huge window).
#   * a 1x1-input transposed conv (DCGAN's first layer) is a single matmul, and a conv whose
#     window covers its whole input (DCGAN's last D layer) is one too; JAX differentiates those.
#
# Every term is the same product x * w that torch sums, only grouped differently, so the
# results equal torch's (and the straightforward `*_reference` functions kept below) up to
# float32 summation order; parity_tests/test_layers.py checks both against torch.nn, forward,
# gradients and second-order gradients. NHWC is kept: XLA:CPU's NCHW convolutions were no
# faster here (benchmark column xla_nchw), so the models need no layout change.


def conv2d_reference(x, kernel, stride: int, padding: int):
    """`F.conv2d(x, w, stride=s, padding=p)` on NHWC, kernel (kh, kw, in, out), JAX-differentiated.

    Both frameworks compute a cross-correlation, so no flip is needed.
    """
    s, p = stride, padding
    return lax.conv_general_dilated(x, kernel.astype(x.dtype), (s, s), ((p, p), (p, p)),
                                    dimension_numbers=_CONV_DIMS)


def conv_transpose2d_reference(x, kernel, stride: int, padding: int):
    """`F.conv_transpose2d(x, w, stride=s, padding=p)` on NHWC, the straightforward way.

    kernel (kh, kw, out, in) = torch weight (in, out, kh, kw).transpose(2, 3, 1, 0). torch's
    output equals
      conv_general_dilated(x, flip_hw(kernel).swap(in, out), window_strides=1,
                           padding=[(k-1-p, k-1-p)] * 2, lhs_dilation=(s, s))
    = lax.conv_transpose(x, kernel, (s, s), [(k-1-p, k-1-p)] * 2, transpose_kernel=True):
    the input is dilated by the stride (s-1 zeros between pixels), padded by k-1-p on each side
    and cross-correlated with the spatially flipped kernel, giving H_out = (H-1)*s - 2p + k
    (output_padding 0). Written with conv_general_dilated so the result does not depend on how
    a jax version reads conv_transpose's explicit padding (its `use_consistent_padding` switch).
    This is what `conv_transpose2d` must equal; its JAX gradient is the slow one on XLA:CPU.
    """
    k, s, q = kernel.shape[0], stride, kernel.shape[0] - 1 - padding
    rhs = jnp.flip(kernel, axis=(0, 1)).swapaxes(2, 3)  # (kh, kw, in, out), flipped
    return lax.conv_general_dilated(x, rhs.astype(x.dtype), window_strides=(1, 1), padding=((q, q), (q, q)),
                                    lhs_dilation=(s, s), dimension_numbers=_CONV_DIMS)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _conv2d_transpose(y, kernel, stride: int, padding: int, out_hw: tuple[int, int]):
    """The adjoint of x -> conv2d(x, kernel, stride, padding) for x of spatial size out_hw, at y.

    kernel (kh, kw, ci, co) (HWIO of the conv; = a ConvTranspose2d kernel (kh, kw, out, in)),
    y (B, Ho, Wo, co) -> (B, *out_hw, ci). Sub-pixel form, per spatial axis: output o with
    o + p = q*s + r (0 <= r < s) receives sum_j y[q - j] * kernel[j*s + r] over j < J =
    ceil(k / s) (taps past k are zero): for each phase r a J-tap correlation of y. All s*s
    phases come out of one stride-1 convolution with out-channels (r_h, r_w, ci); depth-to-space
    then interleaves them and the crop drops the rows q*s + r - p outside [0, out).
    """
    k, _, ci, co = kernel.shape
    s, p = stride, padding
    J = _ceil_div(k, s)
    kp = jnp.pad(kernel, ((0, J * s - k), (0, J * s - k), (0, 0), (0, 0))).reshape(J, s, J, s, ci, co)
    # rhs[jh, jw, co, rh, rw, ci] = kernel[(J-1-jh)*s + rh, (J-1-jw)*s + rw, ci, co]
    rhs = jnp.flip(kp, axis=(0, 2)).transpose(0, 2, 5, 1, 3, 4).reshape(J, J, co, s * s * ci)
    pads, crops, nq = [], [], []
    for n_out, n_y in zip(out_hw, y.shape[1:3]):
        q0, q1 = p // s, (n_out - 1 + p) // s  # the q that reach outputs 0 .. n_out-1
        pads.append((J - 1 - q0, q1 - n_y + 1))
        crops.append(p - q0 * s)
        nq.append(q1 - q0 + 1)
    if min(min(pad) for pad in pads) < 0:  # padding > k - 1: crop y first (lax.pad takes < 0)
        y = lax.pad(y, jnp.zeros((), y.dtype), ((0, 0, 0), (*pads[0], 0), (*pads[1], 0), (0, 0, 0)))
        pads = [(0, 0), (0, 0)]
    z = lax.conv_general_dilated(y, rhs.astype(y.dtype), (1, 1), pads, dimension_numbers=_CONV_DIMS)
    b = y.shape[0]
    z = z.reshape(b, nq[0], nq[1], s, s, ci).transpose(0, 1, 3, 2, 4, 5).reshape(b, nq[0] * s, nq[1] * s, ci)
    return z[:, crops[0]:crops[0] + out_hw[0], crops[1]:crops[1] + out_hw[1]]


def _conv2d_kernel_grad(x, g, kernel_size: int, stride: int, padding: int):
    """d/dkernel of sum(g * conv2d(x, kernel, stride, padding)), shape (k, k, ci, co).

    dK[th, tw] = sum_{b,i,j} x_pad[b, i*s + th, j*s + tw]^T g[b, i, j] with x_pad padded by p.
    With th = a*s + r, x_pad[(i + a)*s + r] is row i + a, phase r of the space-to-depth of
    x_pad, so each (a, c) block of the J x J is one matmul over batch and space between a
    shifted slice of that space-to-depth and g. For >= 16 channels it runs as g^T @ slice
    (co rows), for fewer as slice^T @ g: whichever XLA:CPU ran faster (batch 128, in a scan,
    g^T form vs slice^T form: 64 -> 128 at 32x32 135 vs 195 ms, 3 -> 64 at 64x64 44 vs 12 ms).
    """
    k, s, p = kernel_size, stride, padding
    J = _ceil_div(k, s)
    b, h, w, ci = x.shape
    ho, wo, co = g.shape[1:]
    hs, ws = ho + J - 1, wo + J - 1
    xp = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (p, hs * s - h - p, 0), (p, ws * s - w - p, 0), (0, 0, 0)))
    xs = xp.reshape(b, hs, s, ws, s, ci)
    if ci >= 16:
        xt = xs.transpose(0, 1, 3, 2, 4, 5)  # (b, hs, ws, s, s, ci)
        gt = g.reshape(-1, co).T
        blocks = [[(gt @ xt[:, a:a + ho, c:c + wo].reshape(-1, s * s * ci)).reshape(co, s, s, ci)
                   for c in range(J)] for a in range(J)]
        dk = jnp.stack([jnp.stack(row, 2) for row in blocks], 1)  # (co, J, s, J, s, ci)
        dk = dk.reshape(co, J * s, J * s, ci).transpose(1, 2, 3, 0)
    else:
        dims = (((0, 1, 3), (0, 1, 2)), ((), ()))  # contract batch, rows, cols -> (s, s, ci, co)
        blocks = [[lax.dot_general(xs[:, a:a + ho, :, c:c + wo], g, dims) for c in range(J)] for a in range(J)]
        dk = jnp.stack([jnp.stack(row, 1) for row in blocks], 0)  # (J, s, J, s, ci, co)
        dk = dk.reshape(J * s, J * s, ci, co)
    return dk[:k, :k]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv2d(x, kernel, stride, padding):
    return conv2d_reference(x, kernel, stride, padding)


def _conv2d_fwd(x, kernel, stride, padding):
    return _conv2d(x, kernel, stride, padding), (x, kernel)


def _conv2d_bwd(stride, padding, res, g):
    x, kernel = res
    dx = _conv_transpose2d_impl(g, kernel, stride, padding, x.shape[1:3])
    return dx, _conv2d_kernel_grad(x, g, kernel.shape[0], stride, padding).astype(kernel.dtype)


_conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_transpose2d_impl(x, kernel, stride, padding, out_hw):
    return _conv2d_transpose(x, kernel.astype(x.dtype), stride, padding, out_hw)


def _conv_transpose2d_fwd(x, kernel, stride, padding, out_hw):
    return _conv_transpose2d_impl(x, kernel, stride, padding, out_hw), (x, kernel)


def _conv_transpose2d_bwd(stride, padding, out_hw, res, g):
    x, kernel = res
    dx = _conv2d(g, kernel, stride, padding)
    return dx, _conv2d_kernel_grad(g, x, kernel.shape[0], stride, padding).astype(kernel.dtype)


_conv_transpose2d_impl.defvjp(_conv_transpose2d_fwd, _conv_transpose2d_bwd)


CONV_IMPL_ENV = "JAXGAN_CONV_IMPL"


def use_xla_gradients() -> bool:
    """Whether convolutions take XLA's own gradients rather than the custom VJPs above.

    The custom VJPs were written for XLA:CPU, but they win on a GPU too: on an H100 the DCGAN
    step took 3.67 ms with them and 6.61 ms with XLA's own gradients (float32, batch 128,
    docs/benchmarks.md). `JAXGAN_CONV_IMPL=xla` selects XLA's gradients (for benchmarking);
    both compute the same function.
    """
    choice = os.environ.get(CONV_IMPL_ENV, "custom")
    if choice not in ("custom", "xla"):
        raise JaxganError(f"environment variable {CONV_IMPL_ENV}={choice!r}: choose custom or xla (or unset it)")
    return choice == "xla"


def conv2d(x, kernel, stride: int, padding: int):
    """`conv2d_reference` (= torch's Conv2d) with a gradient that is fast on XLA:CPU."""
    if use_xla_gradients():
        return conv2d_reference(x, kernel, stride, padding)
    k = kernel.shape[0]
    if padding == 0 and x.shape[1:3] == (k, k):  # one window: a matmul (DCGAN D's last layer)
        y = jnp.dot(x.reshape(x.shape[0], -1), kernel.reshape(-1, kernel.shape[-1]).astype(x.dtype))
        return y.reshape(x.shape[0], 1, 1, -1)
    return _conv2d(x, kernel, stride, padding)


def conv_transpose2d(x, kernel, stride: int, padding: int):
    """`conv_transpose2d_reference` (= torch's ConvTranspose2d), fast forward and gradient on XLA:CPU."""
    if use_xla_gradients():
        return conv_transpose2d_reference(x, kernel, stride, padding)
    k, s, p = kernel.shape[0], stride, padding
    out_hw = tuple((n - 1) * s - 2 * p + k for n in x.shape[1:3])
    if x.shape[1:3] == (1, 1):  # y[oh, ow] = x . kernel[oh + p, ow + p]: a matmul (DCGAN G's z)
        rhs = kernel[p:p + out_hw[0], p:p + out_hw[1]].astype(x.dtype)  # (Ho, Wo, out, in)
        return lax.dot_general(x.reshape(x.shape[0], -1), rhs, (((1,), (3,)), ((), ())))
    return _conv_transpose2d_impl(x, kernel, s, p, out_hw)


# --- modules -----------------------------------------------------------------------------------


class TorchConv2d(nn.Module):
    """`nn.Conv2d(in, features, kernel_size, stride, padding, bias=False)` on NHWC inputs.

    kernel: (kh, kw, in, out) = torch weight (out, in, kh, kw).transpose(2, 3, 1, 0). Computes
    `conv2d_reference` through `conv2d`: same function, but a custom VJP, because XLA:CPU's own
    kernel gradient of a strided conv is ~100x slower inside lax.scan (make_train_chunk) and
    slow for 3-channel inputs (see the notes above).
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
        return conv2d(x, kernel, self.stride, self.padding)


class TorchConvTranspose2d(nn.Module):
    """`nn.ConvTranspose2d(in, features, kernel_size, stride, padding, bias=False)` on NHWC.

    kernel: (kh, kw, out, in) = torch weight (in, out, kh, kw).transpose(2, 3, 1, 0), i.e. the
    kernel of the forward conv (out -> in channels) whose input-gradient this layer is; that is
    what `jax.lax.conv_transpose(..., transpose_kernel=True)` expects.

    Computes exactly `conv_transpose2d_reference` (the lhs-dilated convolution spelled out
    there, H_out = (H-1)*s - 2p + k), but through `conv_transpose2d`: a sub-pixel stride-1
    convolution forward and a custom VJP (input gradient = the strided conv2d with the same
    kernel, kernel gradient = space-to-depth matmuls), because XLA:CPU's own gradient of the
    dilated convolution is ~50-100x slower than the forward (numbers in the notes above and in
    benchmarks/conv_transpose.py).
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
        return conv_transpose2d(x, kernel, self.stride, self.padding)


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
