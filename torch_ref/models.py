"""Which seed's code a recipe runs, and its networks built by that code.

  recipe               seed  module (torch_ref/...)   networks                      state_dict keys
  gan_fashion_mnist    002   gan_fashion_mnist.py     G, D = nn.Sequential(...)     0.weight, 2.weight, ...
  gan_maxout_mnist     004   gan_maxout_mnist.py      Generator, Maxout,            linear_1.weight,
                                                      Discriminator                 max_1.linear.weight, ...
  dcgan_celeba         000   dcgan_celeba.py          Generator, Discriminator      main.0.weight,
  dcgan_cifar10        003   dcgan_cifar10.py         _netG, _netD                  main.1.running_mean, ...
  myfgan_mnist_first   001   myfgan_mnist_first.py    the book's Generator,         model.0.weight, ...
  myfgan_mnist               myfgan_mnist.py          Discriminator (+ View for
  myfgan_celeba              myfgan_celeba.py         CelebA)

The seed modules hold the seeds' literal sizes and settings (each module's RECIPE names the
recipe keys they fix). A recipe whose model, loss or optimiser keys differ from its seed's is
refused here in one line: torch_ref runs the seeds as written, nothing else. The weight layout
each key maps to in jaxgan is `jaxgan.interop.layouts`' table.

A recipe may run a seed's networks on another dataset (ON_OTHER_DATA): its data and schedule are
its own, its model, loss and optimisers the seed's, checked as for the seed's own recipe. The
DCGAN classes take the number of image channels as a constructor argument (`nc`, 3 in the
tutorial's globals); `build` passes the data's channels, as pytorch/examples' dcgan passes
nc = 1 for --dataset mnist, so dcgan_fashion_mnist runs seed 000's own Generator and
Discriminator with nc = 1.
"""

from __future__ import annotations

import math
from types import ModuleType

import torch
from torch import nn

from jaxgan.config import Config
from jaxgan.errors import JaxganError
from torch_ref import (
    dcgan_celeba,
    dcgan_cifar10,
    gan_fashion_mnist,
    gan_maxout_mnist,
    myfgan_celeba,
    myfgan_mnist,
    myfgan_mnist_first,
)

SEED_MODULES = {
    "gan_fashion_mnist": gan_fashion_mnist,
    "gan_maxout_mnist": gan_maxout_mnist,
    "dcgan_celeba": dcgan_celeba,
    "dcgan_cifar10": dcgan_cifar10,
    "myfgan_mnist_first": myfgan_mnist_first,
    "myfgan_mnist": myfgan_mnist,
    "myfgan_celeba": myfgan_celeba,
}
# Recipes that are not a seed's but run its networks, loss and optimisers on another dataset.
ON_OTHER_DATA = {"dcgan_fashion_mnist": "dcgan_celeba"}  # seed 000 on Fashion-MNIST, nc = 1, 64 x 64
# The kind of loop each seed runs (torch_ref.steps).
FLAVOURS = {"gan_fashion_mnist": "fashion_mlp", "gan_maxout_mnist": "maxout", "dcgan_celeba": "dcgan",
            "dcgan_cifar10": "dcgan", "myfgan_mnist_first": "book", "myfgan_mnist": "book", "myfgan_celeba": "book"}
# What the networks must see: pixels per image (the MLPs and the book) or (H, W) (the DCGANs).
PIXELS = {"gan_fashion_mnist": 784, "gan_maxout_mnist": 784, "myfgan_mnist_first": 784, "myfgan_mnist": 784,
          "myfgan_celeba": 218 * 178 * 3}


def seed_name(config: Config) -> str:
    """The seed module a recipe runs, from what it trains (not its name, which a user may change)."""
    arch, scheme = config.model.arch, config.train.scheme
    if scheme == "book":
        if arch != "mlp":
            raise JaxganError(f"train.scheme 'book' is the book's MLP loop; model.arch '{arch}' has no book version")
        if config.model.noise == "uniform":
            return "myfgan_mnist_first"
        return "myfgan_celeba" if config.data.channels == 3 else "myfgan_mnist"
    if arch == "dcgan":
        return "dcgan_cifar10" if config.data.dataset == "cifar10" else "dcgan_celeba"
    return {"mlp": "gan_fashion_mnist", "maxout": "gan_maxout_mnist"}[arch]


def seed_module(config: Config) -> ModuleType:
    return SEED_MODULES[seed_name(config)]


def flavour(config: Config) -> str:
    """'fashion_mlp' (002), 'maxout' (004), 'dcgan' (000/003) or 'book' (001)."""
    return FLAVOURS[seed_name(config)]


def recipe_value(config: Config, key: str):
    value = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def check_recipe(config: Config, keys=("model.", "loss.", "optimizer.")) -> None:
    """Refuses a recipe whose networks, loss or optimisers are not its seed's, naming the key."""
    name = seed_name(config)
    for key, seed_value in SEED_MODULES[name].RECIPE.items():
        if key.startswith(keys) and recipe_value(config, key) != seed_value:
            raise JaxganError(f"{key} is {recipe_value(config, key)!r}, but torch_ref runs {name}'s seed as written "
                              f"({seed_value!r}); set it back or train this variant with jaxgan only")


def check_image_shape(config: Config, image_shape: tuple[int, int, int]) -> None:
    name = seed_name(config)
    h, w, _ = image_shape
    if FLAVOURS[name] == "dcgan" and (h, w) != (64, 64):
        raise JaxganError(f"model.arch 'dcgan' makes 64x64 images, but the data is {h}x{w} (set data.image_size: 64)")
    if name in PIXELS and math.prod(image_shape) != PIXELS[name]:
        raise JaxganError(f"{name}'s seed works on {PIXELS[name]} pixels per image, but the data's images are "
                          f"{'x'.join(map(str, image_shape))}")


def seed_networks(name: str, channels: int = 3) -> tuple[nn.Module, nn.Module]:
    """(G, D) as the seed builds them (drawing from torch's global RNG)."""
    seed = SEED_MODULES[name]
    if name == "gan_fashion_mnist":
        return seed.make_G(), seed.make_D()
    if name == "gan_maxout_mnist":
        return seed.Generator(seed.latent_dim), seed.Discriminator()
    if name == "dcgan_celeba":
        netG = seed.Generator(1, nc=channels)
        netG.apply(seed.weights_init)
        netD = seed.Discriminator(1, nc=channels)
        netD.apply(seed.weights_init)
        return netG, netD
    if name == "dcgan_cifar10":
        netG = seed._netG(nc=channels)
        netG.apply(seed.weights_init)
        netD = seed._netD(nc=channels)
        netD.apply(seed.weights_init)
        return netG, netD
    return seed.Generator(), seed.Discriminator()


def build(config: Config, image_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
    """(G, D) of a recipe for images of `image_shape` (H, W, C), built and initialised by its seed.

    Draws from torch's global RNG: seed it first (`torch.manual_seed`).
    """
    check_recipe(config)
    check_image_shape(config, tuple(image_shape))
    return seed_networks(seed_name(config), image_shape[-1])


def reinit(module: nn.Module, config: Config) -> None:
    """Draws `module`'s parameters again, as `build` drew them (used to pool init samples)."""
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    seed = seed_module(config)
    if hasattr(seed, "weights_init"):
        module.apply(seed.weights_init)


def set_mode(module: nn.Module, training: bool) -> None:
    """`module.train(training)`, also for the book's classes, whose own `train` is a training step."""
    nn.Module.train(module, training)


__all__ = ["FLAVOURS", "ON_OTHER_DATA", "SEED_MODULES", "build", "check_recipe", "flavour", "reinit", "recipe_value",
           "seed_module", "seed_name", "seed_networks", "set_mode"]
