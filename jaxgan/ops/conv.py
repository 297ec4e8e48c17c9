"""torch's Conv2d and ConvTranspose2d on NHWC arrays, with gradients XLA:CPU runs fast.

Why these exist rather than `lax.conv_general_dilated` differentiated by JAX: the gradients JAX
derives are convolutions XLA:CPU runs through a slow generic loop instead of its Eigen kernels.
Measured on a 2-core CPU (benchmarks/conv_transpose.py, batch 128):

  * transposed conv (lhs-dilated): its kernel gradient is a convolution of the dilated input
    with the output gradient over a window the size of the feature map; ConvTranspose2d(512
    -> 256, 4, 2, 1) on 4x4: forward 136 ms, forward+backward 13.9 s (torch: 195 / 632 ms).
    The DCGAN generator's forward+backward took 29 s (torch 2.7 s).
  * strided conv: its kernel gradient (a window-dilated conv, window = feature map) is fast
    at the top level of a jit but ~100x slower inside a while loop, i.e. inside the lax.scan
    of steps.make_train_chunk (batch 32, Conv2d(64 -> 128, 4, 2, 1) from 32x32: 24 ms in a
    jit, 2.7 s in a scan; the whole DCGAN step at batch 16: 0.35 s jitted, 9.1 s in the scan).

The custom VJPs below are made of operations XLA:CPU runs fast in both contexts, without
changing the function computed:

  * conv2d(x, K, s, p)            forward: XLA's strided convolution (fast as it is).
  * conv_transpose2d(x, K, s, p)  forward: `subpixel_conv_transpose2d`, ONE stride-1
                                  convolution with a (J, J, out, s*s*in) "sub-pixel" kernel,
                                  J = ceil(k / s), then depth-to-space and a crop.
  * input gradients               each is the other's forward: the input gradient of conv2d
                                  is conv_transpose2d with the same kernel, and vice versa.
  * kernel gradients              `_kernel_grad`: space-to-depth of the (padded) activation,
                                  then J*J matmuls that contract over batch and space (no
                                  convolution with a huge window).
  * a 1x1-input transposed conv (DCGAN's first layer) is a single matmul, and a conv whose
    window covers its whole input (DCGAN's last D layer) is one too; JAX differentiates those.

Every term is the same product x * w that torch sums, only grouped differently, so the results
equal torch's (and the straightforward `*_reference` functions) up to float32 summation order.
Held by parity_tests/test_layers.py (both against torch.nn: forward, gradients and second-order
gradients) and tests/test_conv_speed_formulation.py (no dilated convolution in the DCGAN step).
NHWC is kept: XLA:CPU's NCHW convolutions were no faster (benchmark column xla_nchw).

The custom VJPs win on a GPU too: on an H100 the DCGAN step took 3.67 ms with them and 6.61 ms
with XLA's own gradients (float32, batch 128, docs/benchmarks.md). `JAXGAN_CONV_IMPL=xla`
selects XLA's own gradients instead, for benchmarking; it is read once per process.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.errors import JaxganError

CONV_IMPL_ENV = "JAXGAN_CONV_IMPL"
IMPLEMENTATIONS = ("custom", "xla")  # the custom VJPs below, or JAX's gradients of the references

_DIMS = ("NHWC", "HWIO", "NHWC")


def parse_implementation(value: str) -> str:
    """A `JAXGAN_CONV_IMPL` value, validated."""
    if value not in IMPLEMENTATIONS:
        raise JaxganError(f"environment variable {CONV_IMPL_ENV}={value!r}: choose "
                          f"{' or '.join(IMPLEMENTATIONS)} (or unset it)")
    return value


@functools.cache
def implementation() -> str:
    """The convolution gradients this process uses: `$JAXGAN_CONV_IMPL`, default custom.

    Read and validated on the first convolution, then fixed: every trace in the process
    computes with the same one."""
    return parse_implementation(os.environ.get(CONV_IMPL_ENV, "custom"))


# --- the references: what torch computes, differentiated by JAX --------------------------------


def conv2d_reference(x, kernel, stride: int, padding: int):
    """`F.conv2d(x, w, stride=s, padding=p)` on NHWC, kernel (kh, kw, in, out), JAX-differentiated.

    Both frameworks compute a cross-correlation, so no flip is needed.
    """
    s, p = stride, padding
    return lax.conv_general_dilated(x, kernel.astype(x.dtype), (s, s), ((p, p), (p, p)), dimension_numbers=_DIMS)


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
                                    lhs_dilation=(s, s), dimension_numbers=_DIMS)


# --- the fast formulation ------------------------------------------------------------------------


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def subpixel_conv_transpose2d(y, kernel, stride: int, padding: int, out_hw: tuple[int, int]):
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
    z = lax.conv_general_dilated(y, rhs.astype(y.dtype), (1, 1), pads, dimension_numbers=_DIMS)
    b = y.shape[0]
    z = z.reshape(b, nq[0], nq[1], s, s, ci).transpose(0, 1, 3, 2, 4, 5).reshape(b, nq[0] * s, nq[1] * s, ci)
    return z[:, crops[0]:crops[0] + out_hw[0], crops[1]:crops[1] + out_hw[1]]


def _kernel_grad(x, g, kernel_size: int, stride: int, padding: int):
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
def conv2d_custom(x, kernel, stride, padding):
    """`conv2d_reference` with the custom VJP: input gradient a sub-pixel transposed conv,
    kernel gradient `_kernel_grad`."""
    return conv2d_reference(x, kernel, stride, padding)


def _conv2d_fwd(x, kernel, stride, padding):
    return conv2d_custom(x, kernel, stride, padding), (x, kernel)


def _conv2d_bwd(stride, padding, res, g):
    x, kernel = res
    dx = conv_transpose2d_custom(g, kernel, stride, padding, x.shape[1:3])
    return dx, _kernel_grad(x, g, kernel.shape[0], stride, padding).astype(kernel.dtype)


conv2d_custom.defvjp(_conv2d_fwd, _conv2d_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv_transpose2d_custom(x, kernel, stride, padding, out_hw):
    """`subpixel_conv_transpose2d` with the custom VJP: input gradient the strided conv2d,
    kernel gradient `_kernel_grad`."""
    return subpixel_conv_transpose2d(x, kernel.astype(x.dtype), stride, padding, out_hw)


def _conv_transpose2d_fwd(x, kernel, stride, padding, out_hw):
    return conv_transpose2d_custom(x, kernel, stride, padding, out_hw), (x, kernel)


def _conv_transpose2d_bwd(stride, padding, out_hw, res, g):
    x, kernel = res
    dx = conv2d_custom(g, kernel, stride, padding)
    return dx, _kernel_grad(g, x, kernel.shape[0], stride, padding).astype(kernel.dtype)


conv_transpose2d_custom.defvjp(_conv_transpose2d_fwd, _conv_transpose2d_bwd)


# --- what the layers call ------------------------------------------------------------------------


def conv2d(x, kernel, stride: int, padding: int):
    """torch's Conv2d (= `conv2d_reference`), kernel (kh, kw, in, out), with a fast gradient."""
    if implementation() == "xla":
        return conv2d_reference(x, kernel, stride, padding)
    k = kernel.shape[0]
    if padding == 0 and x.shape[1:3] == (k, k):  # one window: a matmul (DCGAN D's last layer)
        y = jnp.dot(x.reshape(x.shape[0], -1), kernel.reshape(-1, kernel.shape[-1]).astype(x.dtype))
        return y.reshape(x.shape[0], 1, 1, -1)
    return conv2d_custom(x, kernel, stride, padding)


def conv_transpose2d(x, kernel, stride: int, padding: int):
    """torch's ConvTranspose2d (= `conv_transpose2d_reference`), kernel (kh, kw, out, in),
    with a fast forward and gradient."""
    if implementation() == "xla":
        return conv_transpose2d_reference(x, kernel, stride, padding)
    k, s, p = kernel.shape[0], stride, padding
    out_hw = tuple((n - 1) * s - 2 * p + k for n in x.shape[1:3])
    if x.shape[1:3] == (1, 1):  # y[oh, ow] = x . kernel[oh + p, ow + p]: a matmul (DCGAN G's z)
        rhs = kernel[p:p + out_hw[0], p:p + out_hw[1]].astype(x.dtype)  # (Ho, Wo, out, in)
        return lax.dot_general(x.reshape(x.shape[0], -1), rhs, (((1,), (3,)), ((), ())))
    return conv_transpose2d_custom(x, kernel, s, p, out_hw)
