"""The recipes under test, the sizes the tests run them at, and their test inputs.

Every recipe runs its seed's real architecture. Only the batch is smaller than the seed's
where the full batch would be slow on a shared 2-core CPU (the book trains on one image per
step anyway). A recipe file that is missing is an error here, not a skip.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from jaxgan.config import CONFIG_DIR, Config, load_config

RECIPES = (
    "gan_fashion_mnist",
    "gan_maxout_mnist",
    "myfgan_mnist_first",
    "myfgan_mnist",
    "myfgan_celeba",
    "dcgan_celeba",
    "dcgan_cifar10",
    "dcgan_fashion_mnist",  # seed 000's networks on Fashion-MNIST (nc = 1): not a seed's recipe
)


@dataclasses.dataclass(frozen=True)
class Setting:
    image_shape: tuple[int, int, int]  # (H, W, C) the networks see
    batch_size: int  # batch of the float32 checks (the seed's, or smaller)
    raw_shape: tuple[int, int, int]  # (H, W, C) of a raw image before the seed's Resize
    trajectory_batch: int  # batch of the float64 trajectory (double-precision convs are slow)
    trajectory_steps: int  # steps of the trajectory in the default test run (10 with -m slow)


SETTINGS = {
    "gan_fashion_mnist": Setting((28, 28, 1), 16, (28, 28, 1), 16, 10),  # seed: 100
    "gan_maxout_mnist": Setting((28, 28, 1), 16, (28, 28, 1), 8, 10),  # seed: 100 (paper)
    "myfgan_mnist_first": Setting((28, 28, 1), 1, (28, 28, 1), 1, 10),  # the book: one image per step
    "myfgan_mnist": Setting((28, 28, 1), 1, (28, 28, 1), 1, 10),
    "myfgan_celeba": Setting((218, 178, 3), 1, (218, 178, 3), 1, 2),  # 47M parameters
    "dcgan_celeba": Setting((64, 64, 3), 4, (218, 178, 3), 1, 3),  # seed: 128
    "dcgan_cifar10": Setting((64, 64, 3), 4, (32, 32, 3), 1, 3),  # seed: 64
    "dcgan_fashion_mnist": Setting((64, 64, 1), 4, (28, 28, 1), 1, 3),  # seed 000: 128
}
TRAJECTORY_STEPS = 10  # SPEC: parameters after 1 and after 10 whole train steps

SEED = 0  # the recipes' own seed is 0 or 999; the tests use one fixed seed for all


@functools.lru_cache(maxsize=None)
def load_recipe(name: str) -> Config:
    """The recipe file configs/<name>.yaml at the test batch size (JaxganError if missing)."""
    return load_config(CONFIG_DIR / f"{name}.yaml", [f"train.batch_size={SETTINGS[name].batch_size}"])


def raw_images(name: str, count: int, seed: int = 0) -> np.ndarray:
    """uint8 (count, H, W, C) test images at the recipe's raw size: smooth blobs plus noise,
    so that every pixel value 0..255 occurs and neighbouring pixels are correlated."""
    h, w, c = SETTINGS[name].raw_shape
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.empty((count, h, w, c), np.uint8)
    for i in range(count):
        fx, fy, phase = rng.uniform(1, 6, size=3)
        base = 0.5 + 0.5 * np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)
        noise = rng.uniform(-0.25, 0.25, size=(h, w, c))
        out[i] = np.clip((base[..., None] + noise) * 255.0, 0, 255).astype(np.uint8)
    return out


def network_images(name: str, count: int, seed: int = 0) -> np.ndarray:
    """uint8 images at the size the networks see (Resize/CenterCrop done as jaxgan does)."""
    from jaxgan.data.transforms import resize_center_crop_batch

    config = load_recipe(name)
    return resize_center_crop_batch(raw_images(name, count, seed), config.data.image_size)
