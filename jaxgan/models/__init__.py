"""Generators and discriminators, chosen by a recipe's `model.arch` from one table."""

from __future__ import annotations

from typing import Callable

import flax.linen as nn

from jaxgan.config import ModelConfig
from jaxgan.errors import JaxganError
from jaxgan.models.dcgan import build_dcgan
from jaxgan.models.maxout import build_maxout
from jaxgan.models.mlp import MLPDiscriminator, MLPGenerator


def _mlp(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
    g, d = cfg.generator, cfg.discriminator
    generator = MLPGenerator(image_shape, tuple(g.hidden), g.activation, g.negative_slope, g.norm, g.output)
    discriminator = MLPDiscriminator(tuple(d.hidden), d.activation, d.negative_slope, d.norm, d.output)
    return generator, discriminator


# model.arch -> builder(model config, image shape (H, W, C)) -> (generator, discriminator)
ARCHITECTURES: dict[str, Callable[[ModelConfig, tuple[int, int, int]], tuple[nn.Module, nn.Module]]] = {
    "mlp": _mlp,
    "maxout": build_maxout,
    "dcgan": build_dcgan,
}


def build(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
    """The (generator, discriminator) pair of a recipe, for images of `image_shape` (H, W, C)."""
    if cfg.arch not in ARCHITECTURES:
        raise NotImplementedError(f"model.arch '{cfg.arch}' is not implemented yet")
    if cfg.precision != "float32" and cfg.arch != "dcgan":
        raise JaxganError(f"model.precision '{cfg.precision}' is for model.arch 'dcgan'; "
                          f"'{cfg.arch}' runs in float32 (set model.precision: float32)")
    return ARCHITECTURES[cfg.arch](cfg, tuple(image_shape))
