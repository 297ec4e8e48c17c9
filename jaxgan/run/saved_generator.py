"""Images from a trained generator: grids of any size, and the book's seed experiments.

A run folder holds everything needed: `config.yaml` says which GAN, the checkpoint holds its
weights and the image shape. Sampling runs G in eval mode, so BatchNorm uses its running
statistics and sampling never changes them. A population's checkpoint (its record names the
population) holds every member: `load_generator(..., member=k)` takes one, `load_members` all.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jax
import numpy as np

from jaxgan.run.checkpoint import Checkpointer
from jaxgan.config import load_config
from jaxgan.data import value_range
from jaxgan.errors import JaxganError
from jaxgan.gan import GAN, GANState, build_gan, init_state
from jaxgan.population import init_population, member, pick_member
from jaxgan.steps import make_generate


@dataclass(frozen=True)
class TrainedGenerator:
    """A generator restored from a run folder; calling it with z gives images (G in eval mode)."""

    gan: GAN
    state: GANState
    value_range: tuple[float, float]
    step: int

    @functools.cached_property
    def generate(self):
        """The sampling program, compiled once for this generator (per shape of z)."""
        return make_generate(self.gan)

    def __call__(self, z) -> np.ndarray:
        return np.asarray(self.generate(self.state, jax.numpy.asarray(z)))

    def noise(self, seed: int, count: int) -> np.ndarray:
        return np.asarray(self.gan.sample_z(jax.random.PRNGKey(seed), count))


def run_dir_and_step(checkpoint: Path) -> tuple[Path, Optional[int]]:
    """Accepts a run folder, its checkpoints/ folder, or one checkpoints/<step> folder."""
    checkpoint = checkpoint.absolute()
    if checkpoint.name.isdigit() and checkpoint.parent.name in ("checkpoints", "best"):
        return checkpoint.parent.parent, int(checkpoint.name)
    if checkpoint.name in ("checkpoints", "best"):
        return checkpoint.parent, None
    return checkpoint, None


def load_generator(checkpoint: str | Path, member: Optional[int] = None) -> TrainedGenerator:
    """The generator of a run folder (its newest readable checkpoint) or of one checkpoint step
    folder; of a population's, member `member`."""
    gan, state, meta, step, config = _restore(checkpoint)
    state = pick_member(state, member, meta.get("population", 1), str(checkpoint))
    return TrainedGenerator(gan, state, value_range(config.data.scale), step)


def load_members(checkpoint: str | Path) -> list[TrainedGenerator]:
    """Every member's generator of a population's checkpoint (a single run's: one)."""
    gan, state, meta, step, config = _restore(checkpoint)
    population, scale = meta.get("population", 1), value_range(config.data.scale)
    if population == 1:
        return [TrainedGenerator(gan, state, scale, step)]
    return [TrainedGenerator(gan, member(state, k), scale, step) for k in range(population)]


def _restore(checkpoint: str | Path):
    """(gan, state, record, step, config) of the checkpoint: a population's state stacked."""
    run_dir, step = run_dir_and_step(Path(checkpoint))
    path = Path(checkpoint).absolute()
    folder = "best" if "best" in (path.name, path.parent.name) else "checkpoints"
    config_path = run_dir / "config.yaml"
    if not (run_dir / folder).is_dir() or not config_path.is_file():
        raise JaxganError(f"{checkpoint}: not a jaxgan run folder (expected config.yaml and checkpoints/ in {run_dir})")
    config = load_config(config_path)

    gans: dict[tuple[int, int, int], GAN] = {}  # one GAN (and compiled init) per image shape

    def gan_for(meta: dict) -> GAN:
        shape = _image_shape(meta, config)
        if shape not in gans:
            gans[shape] = build_gan(config, shape)
        return gans[shape]

    def template(meta: dict) -> GANState:
        population = meta.get("population", 1)
        if population > 1:
            return init_population(gan_for(meta), config.seed, population)
        return init_state(gan_for(meta), config.seed)

    checkpointer = Checkpointer(run_dir / folder)
    try:
        if not checkpointer.all_steps():
            raise JaxganError(f"{run_dir / folder}: holds no checkpoint")
        state, meta, step = checkpointer.restore_newest(template, step)
    finally:
        checkpointer.close()
    return gan_for(meta), state, meta, step, config


def _image_shape(meta: dict, config) -> tuple[int, int, int]:
    """The image shape the checkpoint records or, for one written without it (converted from
    torch_ref), the recipe's."""
    shape = meta.get("image_shape")
    if isinstance(shape, list) and len(shape) == 3 and all(isinstance(n, int) and n > 0 for n in shape):
        return tuple(shape)
    from jaxgan.config import recipe_image_shape

    return recipe_image_shape(config)


def noise_experiments(generator: TrainedGenerator, seed: int = 0) -> dict[str, np.ndarray]:
    """The book's notebook 09: what G makes of seed1, seed2, their sum, difference, product,
    and twelve seeds interpolated from seed1 to seed2 (seed1 + (seed2 - seed1) * c / 11)."""
    seed1, seed2 = generator.noise(seed, 2)
    arithmetic = np.stack([seed1, seed2, seed1 + seed2, seed1 - seed2, seed1 * seed2])
    steps = np.arange(12, dtype=np.float32)[:, None] / 11.0
    interpolation = seed1[None] + (seed2 - seed1)[None] * steps
    return {"arithmetic": generator(arithmetic), "interpolation": generator(interpolation)}


def save_noise_experiments(generator: TrainedGenerator, out: str | Path, seed: int = 0) -> Path:
    """`noise_experiments` as one labelled PNG: the five operations on the first row, the
    twelve interpolation steps on the second."""
    from jaxgan.images import noise_experiments_figure

    result = noise_experiments(generator, seed)
    title = f"step {generator.step}, --seed {seed}: G of two seeds and of their sum, difference and product"
    return noise_experiments_figure(result["arithmetic"], result["interpolation"], out,
                                   value_range=generator.value_range, title=title)
