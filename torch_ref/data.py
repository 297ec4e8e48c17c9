"""The seeds' input pipeline: jaxgan's readers for the pixels, torchvision for the transforms.

Both backends must see the same pixels, so the files are read by jaxgan's readers (IDX, CSV,
CIFAR-10 batches, HDF5, image folders) *without* jaxgan's resizing; what the seeds do next is
done here with torchvision, as the seeds do it:

  000 CelebA      Resize(64), CenterCrop(64), ToTensor(), Normalize((0.5,)*3, (0.5,)*3)
  002 Fashion     ToTensor(), Normalize((0.5,), (0.5,))
  003 CIFAR-10    Scale(64) (= Resize(64); CenterCrop(64) is then a no-op), ToTensor(), Normalize
  004 MNIST       ToTensor()
  001 (the book)  torch.FloatTensor(pixels) / 255.0, flat (784,) for MNIST, (218, 178, 3) for CelebA

The batch order is jaxgan's (`jaxgan.data.BatchPipeline`: a permutation per (seed, epoch),
incomplete last batch dropped), so a torch_ref run and a jaxgan run of a recipe see the same
images in the same order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

from jaxgan.config import Config, DataConfig
from jaxgan.data import BatchPipeline, image_folder, load_images
from jaxgan.errors import JaxganError


def seed_transform(cfg: DataConfig) -> T.Compose:
    """The torchvision transform the seed applies to each PIL image."""
    ops = []
    if cfg.image_size is not None:
        ops += [T.Resize(cfg.image_size), T.CenterCrop(cfg.image_size)]
    ops.append(T.ToTensor())
    if cfg.scale == "minus_one_one":
        ops.append(T.Normalize((0.5,) * cfg.channels, (0.5,) * cfg.channels))
    return T.Compose(ops)


def to_pil(image: np.ndarray) -> Image.Image:
    """uint8 (H, W, C) -> PIL, in the mode torchvision's datasets use ('L' for one channel)."""
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def book_tensor(image: np.ndarray) -> torch.Tensor:
    """The book's `torch.FloatTensor(pixels) / 255.0`: (784,) for a grey digit, else (H, W, C)."""
    x = torch.from_numpy(np.ascontiguousarray(image)).float() / 255.0
    return x.reshape(-1) if image.shape[-1] == 1 else x


def to_seed_batch(config: Config, images: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, C) raw images -> the batch the seed's loop sees (NCHW, or the book's)."""
    if config.train.scheme == "book":
        if config.data.image_size is not None:
            raise JaxganError("the book does not resize its images: unset data.image_size")
        return torch.stack([book_tensor(im) for im in images])
    transform = seed_transform(config.data)
    return torch.stack([transform(to_pil(im)) for im in images])


def image_shape(config: Config, raw_shape: Sequence[int]) -> tuple[int, int, int]:
    """(H, W, C) of the images the networks see, given the raw (H, W, C)."""
    h, w, c = raw_shape
    size = config.data.image_size
    return (size, size, c) if size is not None else (h, w, c)


class RawImages:
    """The recipe's images as jaxgan's readers decode them, before any resizing.

    Image folders (CelebA, 200,000 JPEGs) are decoded lazily per item, as torchvision's
    ImageFolder does, with jaxgan's file listing and decoder; everything else is read at once.
    """

    def __init__(self, cfg: DataConfig):
        self.cfg = cfg
        self.files: Optional[list[Path]] = None
        self.array: Optional[np.ndarray] = None
        if cfg.format == "image_folder":
            self.files = image_folder.list_images(image_folder.find_image_dir(cfg))[: cfg.limit]
            if not self.files:
                raise JaxganError(f"{cfg.root}: no image files found")
        else:
            self.array = load_images(cfg.model_copy(update={"image_size": None}))

    def __len__(self) -> int:
        return len(self.files) if self.files is not None else len(self.array)

    def __getitem__(self, i: int) -> np.ndarray:
        if self.array is not None:
            return np.asarray(self.array[i])
        path = self.files[i]
        try:
            return image_folder.decode(path, None)
        except Exception as e:  # PIL raises many kinds
            raise JaxganError(f"{path}: unreadable image ({image_folder.why_unreadable(e)}); remove it") from None

    def take(self, indices) -> np.ndarray:
        return np.stack([self[int(i)] for i in indices])


class SeedBatches:
    """The seed's DataLoader: batches in jaxgan's order, transformed as the seed does."""

    def __init__(self, config: Config):
        self.config = config
        self.raw = RawImages(config.data)
        # BatchPipeline decides the order only; it never reads these placeholder pixels.
        placeholder = np.zeros((len(self.raw), 1, 1, 1), np.uint8)
        self.order = BatchPipeline(placeholder, config.train.batch_size, config.seed, shuffle=config.data.shuffle)
        self.steps_per_epoch = self.order.steps_per_epoch
        first = self.raw[0]
        if first.shape[-1] != config.data.channels:
            raise JaxganError(
                f"data.channels is {config.data.channels} but {config.data.dataset} images have "
                f"{first.shape[-1]} channel(s)"
            )
        self.image_shape = image_shape(config, first.shape)

    def indices(self, step: int) -> np.ndarray:
        epoch, i = self.order.position(step)
        b = self.order.batch_size
        return self.order.order(epoch)[i * b : (i + 1) * b]

    def uint8_batch(self, step: int) -> np.ndarray:
        return self.raw.take(self.indices(step))

    def batch(self, step: int) -> torch.Tensor:
        return to_seed_batch(self.config, self.uint8_batch(step))
