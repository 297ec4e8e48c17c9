"""Each seed's training iteration, written as the seed writes it, as a function of its inputs.

The seeds draw their noise inside the loop (`torch.randn`) and let `nn.Dropout` draw its own
masks. Here the noise and, optionally, the dropout masks are arguments, so a benchmark or a
parity test can feed torch exactly what jaxgan used; `torch_ref.train` draws them as the seeds
do. Everything else (which grads are zeroed when, what is detached, which forward passes run
in train mode) is the seed's code, line for line, and the quirks are kept:

- 002: D's loss uses G(z) *undetached*; both optimisers are zeroed before each backward, so
  only D moves in the D step. The G step recomputes G(z) with the same z.
- 004: z has shape (B, 1, 100); the G step draws a fresh z; dropout is active in every D pass.
- 000/003: real and fake pass through D separately (BatchNorm normalises each batch alone) and
  their gradients accumulate; the G step sends the *same* `fake` through the updated D.
- 001 (the book): per image, three optimiser steps: D on the image (target 1), D on
  G(seed).detach() (target 0), G through D with another seed (target 1).

Labels are made in torch's default dtype (the seeds' `torch.FloatTensor([1.0])` and
`dtype=torch.float` are float32 by name), so the same code runs in float64 when the parity
tests set `torch.set_default_dtype(torch.float64)`; in float32 nothing changes.

Every step returns the seeds' log as floats under jaxgan's names: d_loss, g_loss,
d_real = mean D(x), d_fake = mean D(G(z)) in the D step, d_fake_after = mean D(G(z)) in the G step.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
    generator_loss: str  # 'non_saturating' | 'saturating'
    z_dim: int
    image_shape: tuple[int, int, int]  # (H, W, C)


def build_gan(config: Config, image_shape: tuple[int, int, int], nets=None) -> TorchGAN:
    """Networks (drawn from torch's global RNG, seed it first), optimisers and criterion.

    nets: an existing (G, D) to train instead of freshly drawn ones.
    """
    G, D = models.build(config, image_shape) if nets is None else nets
    return TorchGAN(
        generator=G,
        discriminator=D,
        g_opt=models.make_optimizer(config.optimizer.generator, G.parameters()),
        d_opt=models.make_optimizer(config.optimizer.discriminator, D.parameters()),
        criterion=models.make_criterion(config),
        flavour=models.flavour(config),
        generator_loss=config.loss.generator,
        z_dim=config.model.z_dim,
        image_shape=tuple(image_shape),
    )


def _g_criterion(gan: TorchGAN, output, real_labels):
    """The G loss: BCE(D(G(z)), 1) (every seed), or Goodfellow's minimax -BCE(D(G(z)), 0)."""
    if gan.generator_loss == "non_saturating":
        return gan.criterion(output, real_labels)
    return -gan.criterion(output, torch.zeros_like(real_labels))


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


def fashion_mlp_step(gan: TorchGAN, images, z, g_z=None) -> Metrics:
    """Seed 002, one iteration of `for i, (images, _) in enumerate(train_loader)`."""
    G, D, criterion = gan.generator, gan.discriminator, gan.criterion
    d_optimizer, g_optimizer = gan.d_opt, gan.g_opt
    batch_size = images.size(0)
    images = images.reshape(batch_size, -1)

    real_labels = torch.ones(batch_size, 1)
    fake_labels = torch.zeros(batch_size, 1)

    outputs = D(images)
    d_loss_real = criterion(outputs, real_labels)
    real_score = outputs

    fake_images = G(z)  # not detached: d_loss.backward() also reaches G, whose grads are zeroed

    outputs = D(fake_images)
    d_loss_fake = criterion(outputs, fake_labels)
    fake_score = outputs

    d_loss = d_loss_real + d_loss_fake

    d_optimizer.zero_grad()
    g_optimizer.zero_grad()
    d_loss.backward()
    d_optimizer.step()

    fake_images = G(z if g_z is None else g_z)
    outputs = D(fake_images)
    g_loss = _g_criterion(gan, outputs, real_labels)

    d_optimizer.zero_grad()
    g_optimizer.zero_grad()
    g_loss.backward()
    g_optimizer.step()

    return dict(d_loss=d_loss.item(), g_loss=g_loss.item(), d_real=real_score.mean().item(),
                d_fake=fake_score.mean().item(), d_fake_after=outputs.mean().item())


def maxout_step(gan: TorchGAN, data, z, g_z, dropout_masks=None) -> Metrics:
    """Seed 004, one iteration of `for i, data in enumerate(mnist_loader)`.

    z and g_z: the D step's and the G step's noise, (B, 100) or the seed's (B, 1, 100).
    dropout_masks: None (dropout draws its own) or keep masks for the three D passes
    [real, fake, G step], each a list with one (B, width) mask per Dropout.
    """
    G, D, criterion = gan.generator, gan.discriminator, gan.criterion
    optimizer_D, optimizer_G = gan.d_opt, gan.g_opt
    batch_size = data.size(0)
    real_y = torch.ones((batch_size, 1))
    fake_y = torch.zeros((batch_size, 1))

    with fixed_dropout(D, dropout_masks):
        real = data.view(batch_size, -1)
        fake = G(z.reshape(batch_size, 1, gan.z_dim))  # torch.randn(BATCH_SIZE, 1, latent_dim)

        d_on_real = D(real)
        loss_real = criterion(d_on_real, real_y)
        d_on_fake = D(fake)
        loss_fake = criterion(d_on_fake, fake_y)

        optimizer_D.zero_grad()
        loss_D = loss_real + loss_fake
        loss_D.backward()
        optimizer_D.step()

        fake = G(g_z.reshape(batch_size, 1, gan.z_dim))  # a fresh z for the G step

        y = D(fake)
        loss_G = _g_criterion(gan, y, real_y)

        optimizer_G.zero_grad()
        loss_G.backward()
        optimizer_G.step()

    return dict(d_loss=loss_D.item(), g_loss=loss_G.item(), d_real=d_on_real.mean().item(),
                d_fake=d_on_fake.mean().item(), d_fake_after=y.mean().item())


def dcgan_step(gan: TorchGAN, real_cpu, z, g_z=None) -> Metrics:
    """Seeds 000/003, one iteration of `for i, data in enumerate(dataloader, 0)`."""
    netG, netD, criterion = gan.generator, gan.discriminator, gan.criterion
    optimizerD, optimizerG = gan.d_opt, gan.g_opt
    nz = gan.z_dim

    # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
    netD.zero_grad()
    b_size = real_cpu.size(0)
    # the tutorial: torch.full((b_size,), real_label, dtype=torch.float, device=device)
    label = torch.full((b_size,), 1.0, device=real_cpu.device)
    output = netD(real_cpu).view(-1)
    errD_real = criterion(output, label)
    errD_real.backward()
    D_x = output.mean().item()

    noise = z.reshape(b_size, nz, 1, 1)
    fake = netG(noise)
    label.fill_(0.0)
    output = netD(fake.detach()).view(-1)
    errD_fake = criterion(output, label)
    errD_fake.backward()  # accumulates onto errD_real's gradients
    D_G_z1 = output.mean().item()
    errD = errD_real + errD_fake
    optimizerD.step()

    # (2) Update G network: maximize log(D(G(z))), through the updated D
    netG.zero_grad()
    label.fill_(1.0)
    if g_z is not None:  # train.generator_noise 'fresh' (not a seed setting)
        fake = netG(g_z.reshape(b_size, nz, 1, 1))
    output = netD(fake).view(-1)
    errG = _g_criterion(gan, output, label)
    errG.backward()
    D_G_z2 = output.mean().item()
    optimizerG.step()

    return dict(d_loss=errD.item(), g_loss=errG.item(), d_real=D_x, d_fake=D_G_z1, d_fake_after=D_G_z2)


def _book_d_train(gan: TorchGAN, inputs, targets):
    """The book's `Discriminator.train(inputs, targets)`."""
    D = gan.discriminator
    outputs = D(inputs)
    loss = gan.criterion(outputs, targets)
    gan.d_opt.zero_grad()
    loss.backward()
    gan.d_opt.step()
    return loss, outputs


def book_step(gan: TorchGAN, image, z, g_z) -> Metrics:
    """The book's loop body for one image: three optimiser steps.

    image: a batch of one image in the book's layout, (1, 784) for MNIST or (1, 218, 178, 3)
    for CelebA; the book's nets see it without the batch axis, as its Dataset yields it.
    z, g_z: the two seeds, z_dim values each.
    """
    image = image[0]
    G, D = gan.generator, gan.discriminator
    z, g_z = z.reshape(gan.z_dim), g_z.reshape(gan.z_dim)

    one, zero = torch.tensor([1.0]), torch.tensor([0.0])  # torch.FloatTensor([1.0]), ([0.0])
    # D.train(image_data_tensor, torch.FloatTensor([1.0]))
    loss_real, d_real = _book_d_train(gan, image, one)
    # D.train(G.forward(generate_random_seed(100)).detach(), torch.FloatTensor([0.0]))
    loss_fake, d_fake = _book_d_train(gan, G(z).detach(), zero)
    # G.train(D, generate_random_seed(100), torch.FloatTensor([1.0])): D's loss, G's optimiser
    g_output = G(g_z)
    d_output = D(g_output)
    loss = _g_criterion(gan, d_output, one)
    gan.g_opt.zero_grad()
    loss.backward()
    gan.g_opt.step()

    return dict(d_loss=(loss_real.item() + loss_fake.item()) / 2, g_loss=loss.item(),
                d_real=d_real.mean().item(), d_fake=d_fake.mean().item(), d_fake_after=d_output.mean().item())


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
