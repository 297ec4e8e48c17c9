"""A GAN as two halves: a static definition (modules, optimisers, recipe choices) and a state.

`GANState` is the whole trainable state as one pytree — both parameter sets, both optimiser
states, BatchNorm statistics, the step and the RNG key — so it can be jit-ted, scanned,
checkpointed and converted to and from PyTorch as data. `GAN` holds everything static.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxgan import models
from jaxgan.config import Config, OptimizerConfig


@struct.dataclass
class NetState:
    """One network's trainable state."""

    params: Any
    batch_stats: Any
    opt_state: Any


@struct.dataclass
class GANState:
    step: jax.Array  # int32 scalar: train steps taken
    rng: jax.Array  # the run's base key; step t uses fold_in(rng, t)
    g: NetState
    d: NetState


@dataclasses.dataclass(frozen=True)
class GAN:
    """Everything about a recipe's GAN that is not state."""

    generator: nn.Module
    discriminator: nn.Module
    g_tx: optax.GradientTransformation
    d_tx: optax.GradientTransformation
    z_dim: int
    image_shape: tuple[int, int, int]
    scale: str  # data.scale: how uint8 images become floats
    loss: str  # 'bce' | 'mse'
    generator_loss: str  # 'non_saturating' | 'saturating'
    generator_noise: str  # 'same' | 'fresh'
    scheme: str = "minibatch"  # 'minibatch' | 'book'
    noise: str = "normal"  # prior of z: 'normal' | 'uniform'

    def sample_z(self, key, count: int) -> jax.Array:
        """z ~ the recipe's prior: torch.randn (normal) or torch.rand (uniform on [0, 1))."""
        return sample_noise(key, (count, self.z_dim), self.noise)


def sample_noise(key, shape, kind: str = "normal") -> jax.Array:
    if kind == "uniform":
        return jax.random.uniform(key, shape, jnp.float32)
    return jax.random.normal(key, shape, jnp.float32)


def make_optimizer(cfg: OptimizerConfig) -> optax.GradientTransformation:
    """optax twin of the torch optimiser. Adam: eps added outside the square root, as torch."""
    if cfg.name == "adam":
        return optax.adam(cfg.lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
    if cfg.name == "sgd":
        return optax.sgd(cfg.lr)
    raise ValueError(f"unknown optimizer {cfg.name!r}")


def build_gan(config: Config, image_shape: tuple[int, int, int]) -> GAN:
    generator, discriminator = models.build(config.model, image_shape)
    return GAN(
        generator=generator,
        discriminator=discriminator,
        g_tx=make_optimizer(config.optimizer.generator),
        d_tx=make_optimizer(config.optimizer.discriminator),
        z_dim=config.model.z_dim,
        image_shape=tuple(image_shape),
        scale=config.data.scale,
        loss=config.loss.kind,
        generator_loss=config.loss.generator,
        generator_noise=config.train.generator_noise,
        scheme=config.train.scheme,
        noise=config.model.noise,
    )


def _init_net(module: nn.Module, tx: optax.GradientTransformation, key, example) -> NetState:
    variables = module.init({"params": key, "dropout": key}, example, train=False)
    params = variables["params"]
    return NetState(params=params, batch_stats=variables.get("batch_stats", {}), opt_state=tx.init(params))


def init_state(gan: GAN, seed: int) -> GANState:
    """A fresh GANState: weights drawn from the recipe's init, from `seed` alone."""

    @jax.jit  # one compiled program: eager initialisation of conv kernels is slow on CPU
    def init(root):
        g_key, d_key, train_key = jax.random.split(root, 3)
        z = jnp.zeros((1, gan.z_dim), jnp.float32)
        images = jnp.zeros((1, *gan.image_shape), jnp.float32)
        return GANState(
            step=jnp.zeros((), jnp.int32),
            rng=train_key,
            g=_init_net(gan.generator, gan.g_tx, g_key, z),
            d=_init_net(gan.discriminator, gan.d_tx, d_key, images),
        )

    return init(jax.random.PRNGKey(seed))


def fixed_noise(seed: int, count: int, z_dim: int, kind: str = "normal") -> jax.Array:
    """The run's fixed z for sample grids: its own stream, independent of training."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 0xF1AED)
    return sample_noise(key, (count, z_dim), kind)
