"""Image grids as torchvision draws them, and PNG/GIF files.

`make_grid` reproduces `torchvision.utils.make_grid(..., normalize=True, value_range=...)`
and `to_uint8` the rounding of `torchvision.utils.save_image`, so a grid from jaxgan and one
from torch_ref of the same images are the same pixels (`parity_tests` compares them).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def make_grid(images: np.ndarray, nrow: int = 8, padding: int = 2, value_range=(-1.0, 1.0),
              pad_value: float = 0.0) -> np.ndarray:
    """Tiles NHWC float images into one (H', W', 3) float grid in [0, 1].

    As torchvision: one channel is repeated to three; values are clamped to `value_range`
    and mapped to [0, 1]; `nrow` images per row; `padding` pixels of `pad_value` around each.
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if value_range is not None:
        low, high = value_range
        x = (np.clip(x, low, high) - np.float32(low)) / np.float32(max(high - low, 1e-5))
    if len(x) == 1:
        return x[0]
    n, h, w, c = x.shape
    cols = min(nrow, n)
    rows = int(math.ceil(n / cols))
    cell_h, cell_w = h + padding, w + padding
    grid = np.full((cell_h * rows + padding, cell_w * cols + padding, c), pad_value, np.float32)
    for k in range(n):
        y, xx = divmod(k, cols)
        top, left = y * cell_h + padding, xx * cell_w + padding
        grid[top : top + h, left : left + w] = x[k]
    return grid


def to_uint8(grid: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 with save_image's rounding: (x * 255 + 0.5) clamped, truncated."""
    return np.clip(np.asarray(grid, np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)


def save_grid(images: np.ndarray, path: str | Path, nrow: int = 8, value_range=(-1.0, 1.0)) -> np.ndarray:
    """Writes a grid of `images` as PNG; returns the uint8 grid."""
    pixels = to_uint8(make_grid(images, nrow=nrow, value_range=value_range))
    Image.fromarray(pixels).save(path)
    return pixels


def save_gif(frames: list[np.ndarray], path: str | Path, ms_per_frame: int = 500) -> None:
    """An animation of uint8 grids (the DCGAN tutorial's progression of fixed-noise samples)."""
    if not frames:
        return
    pictures = [Image.fromarray(f) for f in frames]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=ms_per_frame, loop=0)
