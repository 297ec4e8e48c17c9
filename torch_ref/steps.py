"""Glue from a recipe to its seed's training step, for the parity tests, the benchmark and
`torch_ref.train`.

The seeds draw their noise inside the loop (`torch.randn`) and let `nn.Dropout` draw its own
masks. Here the noise and, optionally, the dropout masks are arguments, so a benchmark or a
parity test can feed torch exactly what jaxgan used; `torch_ref.train` draws them as the seeds
do. The step itself is the seed module's `train_step` (torch_ref/<recipe>.py), the seed's loop
body line for line, quirks kept:

- 002: D's loss uses G(z) *undetached*; both optimisers are zeroed before each backward, so
  only D moves in the D step. The G step recomputes G(z) with the same z.
- 004: z has shape (B, 1, 100); the G step draws a fresh z; dropout is active in every D pass.
- 000/003: real and fake pass through D separately (BatchNorm normalises each batch alone) and
  their gradients accumulate; the G step sends the *same* `fake` through the updated D.
- 001 (the book): per image, three optimiser steps: D on the image (target 1), D on
  G(seed).detach() (target 0), G through D with another seed (target 1).

Every step returns the seeds' log as floats under jaxgan's names: d_loss, g_loss,
d_real = mean D(x), d_fake = mean D(G(z)) in the D step, d_fake_after = mean D(G(z)) in the G step.
"""

from __future__ import annotations

import contextlib
import dataclasses
from types import ModuleType
from typing import Optional, Sequence

import torch
from torch import nn

from jaxgan.config import Config
from jaxgan.errors import JaxganError
from torch_ref import models

Metrics = dict[str, float]


@dataclasses.dataclass
class TorchGAN:
    """A recipe's two networks, their optimisers and criterion, and which seed's loop runs them."""

    generator: nn.Module
    discriminator: nn.Module
    g_opt: torch.optim.Optimizer
    d_opt: torch.optim.Optimizer
    criterion: nn.Module
    flavour: str  # 'fashion_mlp' | 'maxout' | 'dcgan' | 'book'
    seed: ModuleType  # the seed's module, torch_ref/<recipe>.py
    z_dim: int
    image_shape: tuple[int, int, int]  # (H, W, C)


def seed_optimizers(seed: ModuleType, G: nn.Module, D: nn.Module):
    """(g_opt, d_opt, criterion) as the seed makes them (the book's live inside its classes)."""
    name = seed.__name__.rsplit(".", 1)[-1]
    if models.FLAVOURS[name] == "book":
        return G.optimiser, D.optimiser, D.loss_function
    if name == "gan_fashion_mnist":
        d_opt, g_opt = seed.make_optimizers(G, D)
    elif name == "gan_maxout_mnist":
        g_opt, d_opt = seed.make_optimizers(G, D)
    else:
        d_opt, g_opt = seed.make_optimizers(D, G)
    return g_opt, d_opt, nn.BCELoss()


def build_gan(config: Config, image_shape: tuple[int, int, int], nets=None) -> TorchGAN:
    """Networks (drawn from torch's global RNG, seed it first), optimisers and criterion, as the
    recipe's seed makes them.

    nets: an existing (G, D) to train instead of freshly drawn ones.
    """
    if nets is None:
        G, D = models.build(config, image_shape)
    else:
        models.check_recipe(config)
        G, D = nets
    seed = models.seed_module(config)
    g_opt, d_opt, criterion = seed_optimizers(seed, G, D)
    return TorchGAN(generator=G, discriminator=D, g_opt=g_opt, d_opt=d_opt, criterion=criterion,
                    flavour=models.flavour(config), seed=seed, z_dim=config.model.z_dim,
                    image_shape=tuple(image_shape))


@contextlib.contextmanager
def fixed_dropout(module: nn.Module, masks: Optional[Sequence[Sequence[torch.Tensor]]]):
    """Within the block, the k-th forward pass of `module` uses masks[k][j] as the keep mask of
    its j-th nn.Dropout instead of drawing one: output = input * (mask / (1 - p)), which is
    torch's own formula (`noise.bernoulli_(1 - p).div_(1 - p)`, then `input * noise`).
    """
    dropouts = [m for m in module.modules() if isinstance(m, nn.Dropout)]
    if masks is None or not dropouts:
        yield
        return
    calls = [0] * len(dropouts)

    def hook_for(j):
        def hook(mod, inputs, output):
            k = calls[j]
            calls[j] += 1
            if not mod.training:
                return output
            noise = masks[k][j].to(inputs[0].dtype).reshape(inputs[0].shape).div(1 - mod.p)
            return inputs[0] * noise
        return hook

    handles = [d.register_forward_hook(hook_for(j)) for j, d in enumerate(dropouts)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def recorded_outputs(module: nn.Module):
    """Collects every output of `module` in the block (the book logs only every 10th loss)."""
    outputs: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda mod, inputs, output: outputs.append(output.detach()))
    try:
        yield outputs
    finally:
        handle.remove()


def fashion_mlp_step(gan: TorchGAN, images, z, g_z=None) -> Metrics:
    """Seed 002's loop body (the G step's z: the D step's, or g_z for generator_noise 'fresh')."""
    if g_z is not None:
        raise JaxganError("seed 002's G step reuses the D step's z: set train.generator_noise: same")
    d_loss, g_loss, real_score, fake_score, outputs = gan.seed.train_step(
        gan.generator, gan.discriminator, gan.criterion, gan.d_opt, gan.g_opt, images, z.reshape(len(images), -1))
    return dict(d_loss=d_loss.item(), g_loss=g_loss.item(), d_real=real_score.mean().item(),
                d_fake=fake_score.mean().item(), d_fake_after=outputs.mean().item())


def maxout_step(gan: TorchGAN, data, z, g_z, dropout_masks=None) -> Metrics:
    """Seed 004's loop body. z, g_z: the D and G steps' noise, reshaped to the seed's (B, 1, 100).

    dropout_masks: None (dropout draws its own) or keep masks for the three D passes
    [real, fake, G step], each a list with one (B, width) mask per Dropout.
    """
    b = data.size(0)
    with fixed_dropout(gan.discriminator, dropout_masks):
        loss_D, loss_G, d_real, d_fake, y = gan.seed.train_step(
            gan.generator, gan.discriminator, gan.criterion, gan.g_opt, gan.d_opt, data,
            z.reshape(b, 1, gan.z_dim), g_z.reshape(b, 1, gan.z_dim))
    return dict(d_loss=loss_D.item(), g_loss=loss_G.item(), d_real=d_real.mean().item(),
                d_fake=d_fake.mean().item(), d_fake_after=y.mean().item())


def dcgan_step(gan: TorchGAN, real_cpu, z, g_z=None) -> Metrics:
    """Seed 000's or 003's loop body; z as (B, nz, 1, 1)."""
    b = real_cpu.size(0)
    g_noise = None if g_z is None else g_z.reshape(b, gan.z_dim, 1, 1)
    errD, errG, D_x, D_G_z1, D_G_z2 = gan.seed.train_step(
        gan.generator, gan.discriminator, gan.criterion, gan.d_opt, gan.g_opt, real_cpu,
        z.reshape(b, gan.z_dim, 1, 1), g_noise)
    return dict(d_loss=errD.item(), g_loss=errG.item(), d_real=D_x, d_fake=D_G_z1, d_fake_after=D_G_z2)


def book_step(gan: TorchGAN, image, z, g_z) -> Metrics:
    """The book's loop body for one image: three optimiser steps.

    image: a batch of one image in the book's layout, (1, 784) for MNIST or (1, 218, 178, 3)
    for CelebA; the book's nets see it without the batch axis, as its Dataset yields it.
    z, g_z: the two seeds, z_dim values each. The losses are recomputed from D's recorded
    outputs with D's own loss function (the same numbers the book's `train` computes).
    """
    # the book's own classes (a torch.compile wrapper's `train` would be nn.Module.train)
    D = getattr(gan.discriminator, "_orig_mod", gan.discriminator)
    G = getattr(gan.generator, "_orig_mod", gan.generator)
    with recorded_outputs(D.model) as outs:
        gan.seed.train_step(D, G, image[0], z.reshape(gan.z_dim), g_z.reshape(gan.z_dim))
    d_real, d_fake, d_after = outs
    one, zero = torch.ones_like(d_real), torch.zeros_like(d_real)
    loss_real, loss_fake = D.loss_function(d_real, one).item(), D.loss_function(d_fake, zero).item()
    return dict(d_loss=(loss_real + loss_fake) / 2, g_loss=D.loss_function(d_after, one).item(),
                d_real=d_real.mean().item(), d_fake=d_fake.mean().item(), d_fake_after=d_after.mean().item())


def train_step(gan: TorchGAN, real, z, g_z=None, dropout_masks=None) -> Metrics:
    """One training iteration of the recipe's seed.

    Args:
      real: the batch as the seed's loader yields it (torch_ref.data.to_seed_batch): NCHW
        floats for 000/002/003/004, the book's per-image layout for 001.
      z: the D step's noise, B * z_dim values (reshaped to the seed's layout).
      g_z: the G step's noise; None reuses z (and, for DCGAN, the D step's `fake`). Required
        for seed 004 and the book, which draw fresh noise.
      dropout_masks: seed 004 only; see `maxout_step`.
    """
    if gan.flavour == "fashion_mlp":
        return fashion_mlp_step(gan, real, z, g_z)
    if gan.flavour == "maxout":
        return maxout_step(gan, real, z, z if g_z is None else g_z, dropout_masks)
    if gan.flavour == "dcgan":
        return dcgan_step(gan, real, z, g_z)
    if gan.flavour == "book":
        if real.size(0) != 1:
            raise JaxganError("the book's loop trains on one image at a time: set train.batch_size=1")
        if g_z is None:
            raise ValueError("the book's G step needs its own seed (g_z)")
        return book_step(gan, real, z, g_z)
    raise ValueError(f"unknown flavour {gan.flavour!r}")
