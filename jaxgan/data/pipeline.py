"""Batches from an in-memory uint8 image array, as a pure function of the global step.

The batch a step sees depends only on (seed, step): epoch e uses the permutation drawn from
`numpy.random.default_rng((seed, e))`, and the last incomplete batch is dropped (the seeds'
DataLoader(drop_last=...) behaviour, and always so for jit's fixed shapes). Resuming at step k
therefore needs nothing but k.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from jaxgan.errors import JaxganError


class BatchPipeline:
    """Deterministic shuffled, drop-last batches of uint8 images.

    Args:
      images: uint8 (N, H, W, C), held once in memory.
      batch_size: images per step.
      seed: the recipe's seed; with the epoch number it fixes each epoch's order.
      shuffle: False keeps file order every epoch (the book's one-image-per-step loop).
    """

    def __init__(self, images: np.ndarray, batch_size: int, seed: int, shuffle: bool = True):
        if images.dtype != np.uint8:
            raise ValueError(f"images must be uint8, got {images.dtype}")
        if len(images) < batch_size:
            raise JaxganError(
                f"train.batch_size {batch_size} is larger than the dataset ({len(images)} images)"
            )
        self.images = images
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.steps_per_epoch = len(images) // batch_size

    @functools.lru_cache(maxsize=8)
    def order(self, epoch: int) -> np.ndarray:
        """The image indices of `epoch`, in the order they are visited."""
        if not self.shuffle:
            return np.arange(len(self.images))
        return np.random.default_rng((self.seed, epoch)).permutation(len(self.images))

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, batch index within the epoch) of global step `step`."""
        return divmod(step, self.steps_per_epoch)

    def batch(self, step: int) -> np.ndarray:
        epoch, i = self.position(step)
        b = self.batch_size
        return self.images[self.order(epoch)[i * b : (i + 1) * b]]

    def indices(self, start: int, count: int, rows: slice = slice(None)) -> np.ndarray:
        """The image indices of steps start .. start+count-1: int32 (count, B).

        `rows` picks part of every batch: in a multi-process job each process loads its share.
        """
        b, spe = self.batch_size, self.steps_per_epoch
        first_epoch, last_epoch = start // spe, (start + count - 1) // spe
        # The visiting order of every epoch the chunk touches, one row of batches per step.
        orders = np.concatenate([self.order(e)[: spe * b] for e in range(first_epoch, last_epoch + 1)])
        offset = (start - first_epoch * spe) * b
        return orders[offset : offset + count * b].reshape(count, b)[:, rows].astype(np.int32)

    def batches(self, start: int, count: int, rows: slice = slice(None)) -> np.ndarray:
        """Steps start .. start+count-1 stacked: uint8 (count, B, H, W, C), the images of
        `indices(start, count, rows)`."""
        return self.images[self.indices(start, count, rows)]


@functools.lru_cache(maxsize=None)
def _float_values(scale: str) -> np.ndarray:
    """The float32 value torchvision gives each of the 256 uint8 values, computed by numpy.

    numpy divides with IEEE rounding as torch does; XLA (on CPU, eager or jitted) turns
    x / 255 into a multiplication by 1/255 and is 1 ulp off for half of the values, so the
    division is never done on the device (parity_tests/test_pipeline.py holds this).
    """
    x = np.arange(256, dtype=np.float32) / np.float32(255)
    if scale == "minus_one_one":
        x = (x - np.float32(0.5)) / np.float32(0.5)
    return x


def to_float(images_u8, scale: str):
    """uint8 images -> float32, exactly as torchvision computes it.

    'zero_one' is ToTensor (x / 255); 'minus_one_one' is ToTensor then Normalize(0.5, 0.5),
    i.e. (x / 255 - 0.5) / 0.5, in that order and in float32: a lookup of the 256 values.
    """
    return jnp.asarray(_float_values(scale))[images_u8]


def value_range(scale: str) -> tuple[float, float]:
    """The range `to_float` maps images into, which grids and scores map back from."""
    return (-1.0, 1.0) if scale == "minus_one_one" else (0.0, 1.0)
