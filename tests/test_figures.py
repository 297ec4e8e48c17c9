"""Labelled figures (jaxgan.images): written whole, readable sizes, the seed experiments' layout."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jaxgan import images
from jaxgan.config import load_config
from jaxgan.errors import JaxganError
from jaxgan.gan import build_gan, init_state
from jaxgan.run.saved_generator import TrainedGenerator, save_noise_experiments
from tests.conftest import REPO


def _grid(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return images.to_uint8(images.make_grid(rng.uniform(-1, 1, (16, 28, 28, 1)), nrow=4))


def test_grid_table_has_one_cell_per_grid_and_room_for_the_caption(tmp_path):
    one_row = images.grid_table([[_grid(0), _grid(1)]], ["step 0"], ["jax", "torch"], tmp_path / "a.png")
    two_rows = images.grid_table([[_grid(0), _grid(1)], [_grid(2), _grid(3)]], ["step 0", "step 9"],
                                 ["jax", "torch"], tmp_path / "b.png", caption="line one\nline two")
    with Image.open(one_row) as a, Image.open(two_rows) as b:
        assert a.format == b.format == "PNG"
        assert a.width == b.width and b.height > 2 * a.height - 50


def test_curves_and_a_figure_into_a_missing_folder(tmp_path):
    x = list(range(1, 11))
    path = images.curves({"Loss_D": {"jax": (x, x), "torch": (x, x[::-1])}}, tmp_path / "c.png", caption="c")
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.width >= 500
    with pytest.raises(JaxganError, match="could not be written"):
        images.curves({"Loss_D": {"jax": (x, x)}}, tmp_path / "missing" / "c.png")
    assert not (tmp_path / "missing").exists()


def test_seed_experiments_figure_is_large_and_follows_the_extension(tmp_path):
    config = load_config(REPO / "configs" / "myfgan_mnist.yaml")
    gan = build_gan(config, (28, 28, 1))
    generator = TrainedGenerator(gan, init_state(gan, 0), (0.0, 1.0), 7)
    png = save_noise_experiments(generator, tmp_path / "seeds.png", seed=3)
    jpg = save_noise_experiments(generator, tmp_path / "seeds.jpg", seed=3)
    with Image.open(png) as p, Image.open(jpg) as j:
        assert p.format == "PNG" and j.format == "JPEG"
        # five operations and twelve interpolation steps, each far larger than a 28 px digit
        assert p.width >= 1000 and p.height >= 400
    assert not list(tmp_path.glob(".*tmp*"))
