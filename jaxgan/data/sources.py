"""One entry point from a recipe's `data` section to an in-memory uint8 image array.

Every reader returns images as uint8 in (N, H, W, C) layout, decoded once; the batch
pipeline and the models never see file formats.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from jaxgan.config import DataConfig
from jaxgan.data.cifar10 import load_cifar10
from jaxgan.data.csv_digits import load_csv_digits
from jaxgan.data.hdf5_images import load_hdf5_images
from jaxgan.data.idx import load_idx_images
from jaxgan.data.image_folder import load_image_folder
from jaxgan.data.tfds_source import load_tfds
from jaxgan.errors import JaxganError

# format name (config `data.format`) -> reader
LOADERS: dict[str, Callable[[DataConfig], np.ndarray]] = {
    "idx": load_idx_images,
    "csv": load_csv_digits,
    "cifar10": load_cifar10,
    "image_folder": load_image_folder,
    "hdf5": load_hdf5_images,
    "tfds": load_tfds,
}


def load_images(cfg: DataConfig) -> np.ndarray:
    """Reads the dataset a recipe names, as uint8 (N, H, W, C)."""
    loader = LOADERS.get(cfg.format)
    if loader is None:
        raise JaxganError(
            f"data.format '{cfg.format}' has no reader yet (available: {', '.join(sorted(LOADERS))})"
        )
    images = loader(cfg)
    if cfg.limit is not None:
        images = images[: cfg.limit]
    if images.shape[-1] != cfg.channels:
        raise JaxganError(
            f"data.channels is {cfg.channels} but {cfg.dataset} images have {images.shape[-1]} channel(s)"
        )
    return np.ascontiguousarray(images)
