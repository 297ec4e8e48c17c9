"""Image grids as torchvision draws them, PNG/GIF files, and labelled figures of them.

`make_grid` reproduces `torchvision.utils.make_grid(..., normalize=True, value_range=...)`
and `to_uint8` the rounding of `torchvision.utils.save_image`, so a grid from jaxgan and one
from torch_ref of the same images are the same pixels (`parity_tests` compares them).

The figures (matplotlib, imported only when one is drawn) put titles, row labels and a caption
around such grids, so that a picture says what it shows: `grid_table`, `curves` and
`noise_experiments_figure`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from jaxgan.files import atomic_path


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


# --- labelled figures --------------------------------------------------------------------------

def _figure(**kwargs):
    """A matplotlib Figure outside pyplot: no backend chosen, no global figure list touched, so
    drawing leaves a notebook's or a user's own matplotlib set-up as it was."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _save_figure(fig, path: str | Path, dpi: int) -> Path:
    """Written whole or not at all, in the image format its extension names (PNG for others)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.1)
    kind = Image.registered_extensions().get(Path(path).suffix.lower(), "PNG")
    with atomic_path(path) as tmp, Image.open(buffer) as picture:
        rgb = np.asarray(picture.convert("RGB"))
        grey = bool(np.all(rgb == rgb[..., :1]))  # a third of the bytes for grey images
        Image.fromarray(rgb[..., 0] if grey else rgb).save(tmp, format=kind)
    return Path(path)


def grid_table(cells: Sequence[Sequence[np.ndarray]], row_labels: Sequence[str], column_labels: Sequence[str],
               path: str | Path, caption: str = "", cell_inches: float = 3.0, dpi: int = 100) -> Path:
    """uint8 grids in a table: one row per label, one column per title, a caption below."""
    rows, cols = len(cells), len(column_labels)
    caption_inches = 0.25 * (caption.count("\n") + 1) if caption else 0.0
    fig = _figure(figsize=(cols * cell_inches + 0.6, rows * (cell_inches + 0.3) + caption_inches + 0.1))
    axes = fig.subplots(rows, cols, squeeze=False)
    for r, row in enumerate(cells):
        for c, grid in enumerate(row):
            ax = axes[r][c]
            ax.imshow(grid, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(column_labels[c], fontsize=12)
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=11)
    bottom = (caption_inches + 0.15) / fig.get_figheight() if caption else 0.0
    fig.tight_layout(rect=(0, bottom, 1, 1))
    if caption:
        fig.text(0.5, 0.01, caption, ha="center", va="bottom", fontsize=9, wrap=True)
    return _save_figure(fig, path, dpi)


def curves(panels: dict[str, dict[str, tuple[Sequence[float], Sequence[float]]]], path: str | Path,
           xlabel: str = "step", caption: str = "", dpi: int = 100) -> Path:
    """Line plots side by side: {panel title: {legend label: (x, y)}}, each with axes and a legend."""
    n = len(panels)
    cols = min(n, 2)
    rows = -(-n // cols)
    fig = _figure(figsize=(5.5 * cols, 3.4 * rows + (0.4 if caption else 0)))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (title, series) in zip(axes.flat, panels.items()):
        for (label, (x, y)), style in zip(series.items(), ("-", "--", ":", "-.")):
            ax.plot(x, y, style, label=label, linewidth=1.2)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.legend()
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout(rect=(0, (0.45 / fig.get_figheight()) if caption else 0, 1, 1))
    if caption:
        fig.text(0.5, 0.01, caption, ha="center", va="bottom", fontsize=9, wrap=True)
    return _save_figure(fig, path, dpi)


def _image_axes(ax, image: np.ndarray, title: str, value_range) -> None:
    pixels = to_uint8(make_grid(image[None], value_range=value_range))
    ax.imshow(pixels, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def noise_experiments_figure(arithmetic: np.ndarray, interpolation: np.ndarray, path: str | Path,
                            value_range=(-1.0, 1.0), title: Optional[str] = None, dpi: int = 100) -> Path:
    """The book's seed experiments, labelled: the five operations on one row, the twelve
    interpolation steps from seed1 to seed2 on the next, each image large enough to read."""
    operations = ["seed1", "seed2", "seed1 + seed2", "seed1 − seed2", "seed1 × seed2"]
    steps = len(interpolation)
    fig = _figure(figsize=(12, 4.6))
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.9, 1.7])
    top.suptitle(title or "what G makes of two seeds and of their sum, difference and product", fontsize=12)
    for ax, image, label in zip(top.subplots(1, len(operations)), arithmetic, operations):
        _image_axes(ax, image, label, value_range)
    top.subplots_adjust(left=0.1, right=0.9, top=0.82, bottom=0.02, wspace=0.15)
    bottom.suptitle(f"from seed1 to seed2 in {steps} steps: seed1 + (seed2 − seed1) · c/{steps - 1}",
                    fontsize=12)
    for c, (ax, image) in enumerate(zip(bottom.subplots(1, steps), interpolation)):
        _image_axes(ax, image, f"c={c}", value_range)
    bottom.subplots_adjust(left=0.02, right=0.98, top=0.72, bottom=0.04, wspace=0.12)
    return _save_figure(fig, path, dpi)
