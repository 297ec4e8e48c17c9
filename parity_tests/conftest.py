"""Shared fixtures of the parity tests: a small Fashion-MNIST-layout dataset on disk; the run's
report of the figures this machine measures differently from docs/parity.md."""

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


FIGURES = pytest.StashKey[list]()


@pytest.fixture
def differing_figures(pytestconfig) -> list[str]:
    """Where the tests put the figures this machine measures differently from docs/parity.md."""
    return pytestconfig.stash.setdefault(FIGURES, [])


def pytest_terminal_summary(terminalreporter, config) -> None:
    """The run's report of those figures, beside the machine of record and this one; also
    written to .pytest_cache/d/parity/figures.md. They differ, they do not fail."""
    figures = config.stash.get(FIGURES, None)
    if figures is None:  # no test compared with the page
        return
    from parity_tests import record, report

    lines = [f"{len(figures)} figures of docs/parity.md measured differently on this machine (shown, not failed)",
             f"recorded on: {record.load().machine}", f"measured on: {report.machine_line()}", "",
             *figures]
    if getattr(config, "cache", None) is not None:
        path = config.cache.mkdir("parity") / "figures.md"
        path.write_text("\n".join(lines) + "\n")
        lines.append(f"(written to {path})")
    terminalreporter.write_sep("-", "parity figures of this machine")
    for line in lines:
        terminalreporter.write_line(line)
