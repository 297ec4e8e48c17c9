"""A GAN as two halves: a static definition (modules, optimisers, recipe choices) and a state.

`GANState` is the whole trainable state as one pytree — both parameter sets, both optimiser
states, BatchNorm statistics, the step and the RNG key — so it can be jit-ted, scanned,
checkpointed and converted to and from PyTorch as data. `GAN` holds everything static. The
recipe's choices (criterion, generator objective, input scaling, noise prior) are settled
when the GAN is built, as functions, the way `optax.adam(...)` settles an optimiser's: a
traced step calls them and never reads recipe text.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxgan import models
from jaxgan.config import Config, OptimizerConfig
from jaxgan.data.pipeline import to_float
from jaxgan.losses import CRITERIA

Loss = Callable[[jax.Array, Any], jax.Array]


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
    criterion: Loss  # loss.kind: (D's output, target) -> torch's BCELoss or MSELoss
    generator_objective: Callable[[jax.Array], jax.Array]  # loss.generator: D(G(z)) -> G's loss
    to_float: Callable[[jax.Array], jax.Array]  # data.scale: uint8 images -> the networks' input
    noise_prior: Callable[[Any, tuple[int, ...]], jax.Array]  # model.noise: (key, shape) -> z
    generator_noise: str = "same"  # whether the G step reuses the D step's z: picks the step's G update
    scheme: str = "minibatch"  # 'minibatch' | 'book': picks the step builder

    def sample_z(self, key, count: int) -> jax.Array:
        """z ~ the recipe's prior: torch.randn (normal) or torch.rand (uniform on [0, 1))."""
        return self.noise_prior(key, (count, self.z_dim))

    @functools.cached_property
    def initializer(self) -> Callable[[jax.Array], "GANState"]:
        """`init_state`'s compiled program, built once per GAN."""
        return make_init(self)


def normal_noise(key, shape) -> jax.Array:
    return jax.random.normal(key, shape, jnp.float32)


def uniform_noise(key, shape) -> jax.Array:
    return jax.random.uniform(key, shape, jnp.float32)


NOISE_PRIORS = {"normal": normal_noise, "uniform": uniform_noise}


def sample_noise(key, shape, kind: str = "normal") -> jax.Array:
    return NOISE_PRIORS[kind](key, shape)


def input_scaling(scale: str) -> Callable[[jax.Array], jax.Array]:
    """uint8 images -> the networks' floats, as torchvision computes them (`data.to_float`):
    the 256 values looked up once here, so the step only indexes a table."""
    table = np.asarray(to_float(np.arange(256, dtype=np.uint8), scale))
    return lambda images: jnp.asarray(table)[images]


def generator_objective(criterion: Loss, kind: str) -> Callable[[jax.Array], jax.Array]:
    """G's loss from D's output on G(z): the seeds' errG (non-saturating, maximise log D(G(z)))
    or Goodfellow's minimax form (saturating, minimise log(1 - D(G(z))))."""
    if kind == "non_saturating":
        return functools.partial(criterion, target=1.0)
    return lambda p: -criterion(p, 0.0)


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
        criterion=CRITERIA[config.loss.kind],
        generator_objective=generator_objective(CRITERIA[config.loss.kind], config.loss.generator),
        to_float=input_scaling(config.data.scale),
        noise_prior=NOISE_PRIORS[config.model.noise],
        generator_noise=config.train.generator_noise,
        scheme=config.train.scheme,
    )


def _init_net(module: nn.Module, tx: optax.GradientTransformation, key, example) -> NetState:
    variables = module.init({"params": key, "dropout": key}, example, train=False)
    params = variables["params"]
    return NetState(params=params, batch_stats=variables.get("batch_stats", {}), opt_state=tx.init(params))


def make_init(gan: GAN, out_shardings=None) -> Callable[[jax.Array], GANState]:
    """The compiled program from a PRNG key to a fresh GANState, created where `out_shardings`
    says (e.g. replicated on a training mesh) rather than created and then moved. One compiled
    program: eager initialisation of conv kernels is slow on CPU."""

    def init(root) -> GANState:
        g_key, d_key, train_key = jax.random.split(root, 3)
        z = jnp.zeros((1, gan.z_dim), jnp.float32)
        images = jnp.zeros((1, *gan.image_shape), jnp.float32)
        return GANState(
            step=jnp.zeros((), jnp.int32),
            rng=train_key,
            g=_init_net(gan.generator, gan.g_tx, g_key, z),
            d=_init_net(gan.discriminator, gan.d_tx, d_key, images),
        )

    return jax.jit(init, out_shardings=out_shardings)


def init_state(gan: GAN, seed: int) -> GANState:
    """A fresh GANState: weights drawn from the recipe's init, from `seed` alone."""
    return gan.initializer(jax.random.PRNGKey(seed))


def fixed_noise(seed: int, count: int, z_dim: int, kind: str = "normal") -> jax.Array:
    """The run's fixed z for sample grids: its own stream, independent of training."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 0xF1AED)
    return sample_noise(key, (count, z_dim), kind)
