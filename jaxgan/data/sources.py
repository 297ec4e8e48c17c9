"""One entry point from a recipe's `data` section to an in-memory uint8 image array.

Every reader returns images as uint8 in (N, H, W, C) layout, decoded once; the batch
pipeline and the models never see file formats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from jaxgan.config import DataConfig
from jaxgan.data import idx, locate
from jaxgan.data.cifar10 import load_cifar10
from jaxgan.data.csv_digits import load_csv_digits
from jaxgan.data.hdf5_images import load_hdf5_images
from jaxgan.data.image_folder import load_image_folder
from jaxgan.data.tfds_source import load_tfds
from jaxgan.errors import JaxganError

_IDX_PREFIX = {"train": "train", "test": "t10k"}


def _find_idx_images(cfg: DataConfig) -> Path:
    name = f"{_IDX_PREFIX[cfg.split]}-images-idx3-ubyte"

    def accept(directory: Path) -> Optional[Path]:
        if directory.is_file() and directory.name.startswith(name):
            return directory
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
        return None

    return locate.find(cfg.dataset, cfg.root, accept, f"{name}[.gz]")


def load_idx_images(cfg: DataConfig) -> np.ndarray:
    """MNIST-style IDX images (N, 28, 28) -> (N, 28, 28, 1) uint8."""
    path = _find_idx_images(cfg)
    images = idx.read_idx(path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise JaxganError(
            f"{path}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}"
        )
    return images[..., None]


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
