"""Shared fixtures: small datasets written in their real on-disk formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxgan.data.idx import write_idx

REPO = Path(__file__).resolve().parent.parent
FASHION_CONFIG = REPO / "configs" / "gan_fashion_mnist.yaml"


def fashion_like_images(n: int, seed: int = 0) -> np.ndarray:
    """uint8 (n, 28, 28) images with structure: bright rectangles of varying size on black."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        top, left = rng.integers(2, 10, size=2)
        h, w = rng.integers(8, 18, size=2)
        images[i, top : top + h, left : left + w] = rng.integers(120, 256)
    return images


def write_fashion_folder(root: Path, n: int) -> Path:
    """`n` fashion-like training images (labels all 0) as gzip IDX, in Fashion-MNIST's layout."""
    root.mkdir(parents=True, exist_ok=True)
    write_idx(root / "train-images-idx3-ubyte.gz", fashion_like_images(n))
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(n, np.uint8))
    return root


@pytest.fixture
def fashion_dir(tmp_path: Path) -> Path:
    """A Fashion-MNIST-layout folder holding 400 training images as gzip IDX."""
    return write_fashion_folder(tmp_path / "fashion", 400)


@pytest.fixture
def tiny_overrides(fashion_dir: Path) -> list[str]:
    """--set overrides that make the seed-002 recipe train in seconds on `fashion_dir`."""
    return [
        f"data.root={fashion_dir}",
        "train.batch_size=20",
        "train.steps_per_dispatch=8",
        "train.log_every=5",
        "train.sample_every=10",
        "train.checkpoint_every=10",
    ]
