"""Every seed's step keeps its tensors on the batch's device, as the seeds do (`device=device`,
`.to(DEVICE)`, `.cuda()`, the book's `torch.cuda.FloatTensor`), so the same step runs on a GPU.

Without a GPU to run on, the check makes "meta" torch's default device after a first step
(which creates the optimisers' state): a tensor the step makes without naming a device then
lands on "meta" and the step fails mixing it with the CPU batch.
"""

from __future__ import annotations

import pytest
import torch

from jaxgan.config import CONFIG_DIR, load_config, recipe_image_shape
from torch_ref.steps import build_gan, train_step

RECIPES = ["dcgan_celeba", "dcgan_cifar10", "gan_fashion_mnist", "gan_maxout_mnist",
           "myfgan_mnist_first", "myfgan_mnist", "myfgan_celeba"]


def _batch_and_noise(config, shape, gen):
    h, w, c = shape
    b = config.train.batch_size if config.train.scheme == "book" else 2
    if config.train.scheme == "book":  # the book's per-image layout
        real = torch.rand(b, h * w * c, generator=gen) if c == 1 else torch.rand(b, h, w, c, generator=gen)
    else:
        real = torch.rand(b, c, h, w, generator=gen) * 2 - 1
    z, g_z = (torch.randn(b * config.model.z_dim, generator=gen) for _ in range(2))
    fresh = config.train.scheme == "book" or config.train.generator_noise == "fresh"
    return real, z, g_z if fresh else None


@pytest.mark.parametrize("recipe", RECIPES)
def test_a_seed_step_makes_its_tensors_on_the_batch_device(recipe):
    config = load_config(CONFIG_DIR / f"{recipe}.yaml")
    shape = recipe_image_shape(config)
    torch.manual_seed(0)
    gan = build_gan(config, shape)
    gen = torch.Generator().manual_seed(1)
    train_step(gan, *_batch_and_noise(config, shape, gen))  # the optimisers' state, on the CPU
    real, z, g_z = _batch_and_noise(config, shape, gen)
    with torch.device("meta"):
        metrics = train_step(gan, real, z, g_z)
    assert all(isinstance(v, float) for v in metrics.values()), metrics
