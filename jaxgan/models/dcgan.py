"""DCGAN (seeds 000 and 003): the PyTorch DCGAN tutorial's generator and discriminator, NHWC.

Layers are named after their index in the torch `main` `nn.Sequential` (activations have no
parameters, so their indices are skipped). The weight converter maps, with `i` the index:

  torch state_dict key            flax variable                   layout change
  main.{i}.weight (ConvT)         params convt{i}/kernel          (in, out, kh, kw) -> (kh, kw, out, in)
  main.{i}.weight (Conv)          params conv{i}/kernel           (out, in, kh, kw) -> (kh, kw, in, out)
  main.{i}.weight (BatchNorm)     params bn{i}/scale              -
  main.{i}.bias (BatchNorm)       params bn{i}/bias               -
  main.{i}.running_mean           batch_stats bn{i}/mean          -
  main.{i}.running_var            batch_stats bn{i}/var           -
  main.{i}.num_batches_tracked    (dropped)

(both conv layouts are `W.transpose(2, 3, 1, 0)`.) Generator: convt0 bn1 convt3 bn4 convt6 bn7
convt9 bn10 convt12. Discriminator: conv0 conv2 bn3 conv5 bn6 conv8 bn9 conv11.

`init='dcgan'` is the seeds' `weights_init`: conv weights N(0, 0.02), BatchNorm weight
N(1, 0.02), bias 0; `init='torch_default'` keeps PyTorch's constructors' init.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.config import ModelConfig
from jaxgan.errors import JaxganError
from jaxgan.models.layers import DCGAN_BN_SCALE_INIT, TorchBatchNorm, torch_conv, torch_conv_transpose


def _compute(x, dtype):
    """x in the compute dtype; dtype None keeps x's own (float32, or float64 in parity tests)."""
    return x if dtype is None else x.astype(dtype)


def _at_least_float32(x):
    """bfloat16 -> float32; float32 and float64 unchanged."""
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _batch_norm(name: str, init: str) -> TorchBatchNorm:
    scale_init = DCGAN_BN_SCALE_INIT if init == "dcgan" else nn.initializers.ones
    return TorchBatchNorm(scale_init=scale_init, name=name)


class DCGANGenerator(nn.Module):
    """z (B, z_dim) -> images (B, 64, 64, nc) in [-1, 1]."""

    ngf: int = 64
    nc: int = 3
    weight_init: str = "dcgan"  # model.init: "dcgan" (weights_init) or "torch_default"
    dtype: Any = None  # compute dtype (model.precision: bfloat16); None: the input's

    @nn.compact
    def __call__(self, z, train: bool = True):
        ngf, init = self.ngf, self.weight_init
        x = _compute(z.reshape((z.shape[0], 1, 1, z.shape[-1])), self.dtype)  # torch: noise (B, nz, 1, 1)
        x = torch_conv_transpose(ngf * 8, 4, 1, 0, "convt0", init)(x)
        x = nn.relu(_batch_norm("bn1", init)(x, train))
        # state size: (B, 4, 4, ngf*8)
        x = torch_conv_transpose(ngf * 4, 4, 2, 1, "convt3", init)(x)
        x = nn.relu(_batch_norm("bn4", init)(x, train))
        # state size: (B, 8, 8, ngf*4)
        x = torch_conv_transpose(ngf * 2, 4, 2, 1, "convt6", init)(x)
        x = nn.relu(_batch_norm("bn7", init)(x, train))
        # state size: (B, 16, 16, ngf*2)
        x = torch_conv_transpose(ngf, 4, 2, 1, "convt9", init)(x)
        x = nn.relu(_batch_norm("bn10", init)(x, train))
        # state size: (B, 32, 32, ngf)
        # the output layer in float32 also under bfloat16 compute (3% of G's work)
        x = torch_conv_transpose(self.nc, 4, 2, 1, "convt12", init)(_at_least_float32(x))
        # state size: (B, 64, 64, nc)
        return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
    """images (B, 64, 64, nc) -> probability of being real, (B,)."""

    ndf: int = 64
    weight_init: str = "dcgan"  # model.init: "dcgan" (weights_init) or "torch_default"
    dtype: Any = None  # compute dtype (model.precision: bfloat16); None: the input's

    @nn.compact
    def __call__(self, images, train: bool = True):
        ndf, init = self.ndf, self.weight_init
        # input size: (B, 64, 64, nc)
        x = nn.leaky_relu(torch_conv(ndf, 4, 2, 1, "conv0", init)(_compute(images, self.dtype)), 0.2)
        # state size: (B, 32, 32, ndf)
        x = torch_conv(ndf * 2, 4, 2, 1, "conv2", init)(x)
        x = nn.leaky_relu(_batch_norm("bn3", init)(x, train), 0.2)
        # state size: (B, 16, 16, ndf*2)
        x = torch_conv(ndf * 4, 4, 2, 1, "conv5", init)(x)
        x = nn.leaky_relu(_batch_norm("bn6", init)(x, train), 0.2)
        # state size: (B, 8, 8, ndf*4)
        x = torch_conv(ndf * 8, 4, 2, 1, "conv8", init)(x)
        x = nn.leaky_relu(_batch_norm("bn9", init)(x, train), 0.2)
        # state size: (B, 4, 4, ndf*8)
        # the logit in float32 also under bfloat16 compute: D's probabilities sit near 0 and 1,
        # where a bfloat16 logit (8 bits) moves the sigmoid and BCE's gradient in coarse steps
        x = torch_conv(1, 4, 1, 0, "conv11", init)(_at_least_float32(x))
        # state size: (B, 1, 1, 1); seed 003: output.view(-1, 1).squeeze(1)
        return nn.sigmoid(x).reshape((-1,))


def build_dcgan(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
    """(DCGANGenerator, DCGANDiscriminator) for 64x64 images; ngf/ndf from the nets' `width`."""
    h, w, nc = image_shape
    if (h, w) != (64, 64):
        raise JaxganError(
            f"model.arch 'dcgan' makes 64x64 images, but the data is {h}x{w} (set data.image_size: 64)"
        )
    ngf = cfg.generator.width or 64
    ndf = cfg.discriminator.width or 64
    dtype = jnp.bfloat16 if cfg.precision == "bfloat16" else None
    return DCGANGenerator(ngf, nc, cfg.init, dtype), DCGANDiscriminator(ndf, cfg.init, dtype)
