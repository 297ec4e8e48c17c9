"""Shared fixtures of the parity tests: a small Fashion-MNIST-layout dataset on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxgan.config import CONFIG_DIR
from jaxgan.data.idx import write_idx

FASHION = CONFIG_DIR / "gan_fashion_mnist.yaml"


@pytest.fixture
def fashion_dir(tmp_path: Path) -> Path:
    """120 random 28x28 images as gzip IDX, where the seed-002 recipe looks for them."""
    root = tmp_path / "fashion"
    root.mkdir()
    rng = np.random.default_rng(0)
    write_idx(root / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (120, 28, 28), dtype=np.uint8))
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(120, np.uint8))
    return root


@pytest.fixture
def tiny(fashion_dir: Path) -> list[str]:
    """--set overrides that make the seed-002 recipe train 12 steps in seconds."""
    # every event on a multiple of 6: jaxgan compiles one chunk of 6 steps
    return [f"data.root={fashion_dir}", "train.batch_size=20", "train.max_steps=12", "train.log_every=6",
            "train.sample_every=6", "train.checkpoint_every=6", "train.steps_per_dispatch=6", "train.num_samples=16"]
