"""Run in a subprocess by tests/test_parallel.py, with 4 virtual CPU devices.

Trains the same steps on a 1-device and a 4-device mesh and prints the largest differences
as JSON. (XLA_FLAGS must be set before JAX starts, hence a separate process.)
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

import json  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from jaxgan.config import CONFIG_DIR, load_config  # noqa: E402
from jaxgan.data.synthetic import shapes  # noqa: E402
from jaxgan.gan import build_gan, init_state  # noqa: E402
from jaxgan.parallel import Placement  # noqa: E402
from jaxgan.population import init_population, make_population_chunk  # noqa: E402
from jaxgan.steps import make_train_chunk  # noqa: E402


def run(recipe, image_shape, batch, steps, overrides=(), members=0, program="auto"):
    """With `members`, a population of that many (every device trains all of them), held by
    the population `program`."""
    config = load_config(CONFIG_DIR / f"{recipe}.yaml", list(overrides))
    gan = build_gan(config, image_shape)
    images = shapes(batch * steps, image_shape).reshape(steps, batch, *image_shape)
    fresh = (lambda: init_population(gan, 0, members)) if members else (lambda: init_state(gan, 0))
    chunk = make_population_chunk(gan, program=program) if members else make_train_chunk(gan)
    states, metrics = [], []
    for n in (1, 4):
        placement = Placement.create(batch, n)
        state = placement.put_state(fresh())
        state, m = chunk(state, placement.put_batches(images, batch))
        states.append(jax.tree.map(np.asarray, (state.g.params, state.g.batch_stats, state.d.params, state.d.batch_stats)))
        metrics.append({k: np.asarray(v) for k, v in m.items()})
    abs_diff = max(float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(*map(jax.tree.leaves, states)))
    metric_rel = max(float(np.max(np.abs(metrics[0][k] - metrics[1][k]) / np.abs(metrics[0][k]))) for k in metrics[0])
    return {"param_abs": abs_diff, "metric_rel": metric_rel, "devices": len(jax.devices())}


CASES = {
    # the recipe's own Adam
    "mlp": lambda: run("gan_fashion_mnist", (28, 28, 1), 16, 5),
    "population": lambda: run("gan_fashion_mnist", (28, 28, 1), 16, 5, members=3, program="vmap"),
    "population_map": lambda: run("gan_fashion_mnist", (28, 28, 1), 16, 5, members=3, program="map"),
    # SGD: see tests/test_parallel.py for why
    "dcgan": lambda: run("dcgan_celeba", (64, 64, 3), 8, 2,
                         ["optimizer.generator.name=sgd", "optimizer.discriminator.name=sgd"]),
}

if __name__ == "__main__":
    json.dump({name: CASES[name]() for name in sys.argv[1:]}, sys.stdout)
