"""jaxgan run folders written from, and read for, converted weights.

`save_jax_checkpoint` makes a run folder (config.yaml, checkpoints/<step>/) that `jaxgan.sample`,
`jaxgan.evaluate` and `jaxgan.train --resume` take; `restore_jax_run` reads one back (of a run
folder, its newest readable checkpoint: a damaged one is named and skipped), naming the first
tensor that does not fit the recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import jax
import numpy as np

from jaxgan.config import Config, recipe_image_shape
from jaxgan.errors import JaxganError
from jaxgan.gan import GANState, init_state
from jaxgan.interop.weights import gan_for
from jaxgan.population import init_population, pick_member

def save_jax_checkpoint(config: Config, state: GANState, workdir: str | Path,
                        image_shape: Optional[tuple[int, int, int]] = None,
                        extra_meta: Optional[Mapping[str, Any]] = None) -> Path:
    """Writes `state` as a jaxgan run folder's checkpoint (workdir/checkpoints/<step>/) beside
    the recipe (workdir/config.yaml), so `jaxgan.train --workdir DIR --resume` continues it."""
    from jaxgan.run.checkpoint import Checkpointer
    from jaxgan.config import dump_config
    from jaxgan.run.folder import check_writable

    workdir = Path(workdir)
    check_writable(workdir)
    checkpointer = Checkpointer(workdir / "checkpoints")
    try:
        if checkpointer.latest_step() is not None:
            raise JaxganError(f"{workdir}: already holds a jaxgan checkpoint (step {checkpointer.latest_step()}); "
                              "choose another directory")
        shape = tuple(image_shape) if image_shape is not None else recipe_image_shape(config)
        meta = {"recipe": config.name, "step": int(state.step), "converted_from": "torch",
                "image_shape": [int(n) for n in shape], **(extra_meta or {})}
        checkpointer.save(state, meta)
        checkpointer.wait()
    finally:
        checkpointer.close()
    dump_config(config, workdir / "config.yaml")
    return workdir / "checkpoints" / str(int(state.step))


def restore_jax_checkpoint(config: Config, directory: str | Path,
                           image_shape: Optional[tuple[int, int, int]] = None) -> GANState:
    """A GANState from a jaxgan run folder, its checkpoints/ folder, or one checkpoints/<step>/.

    Shapes are checked against the recipe first, naming the first tensor that differs.
    """
    return restore_jax_run(config, directory, image_shape)[0]


def restore_jax_run(config: Config, directory: str | Path, image_shape: Optional[tuple[int, int, int]] = None,
                    member: Optional[int] = None) -> tuple[GANState, dict[str, Any]]:
    """`restore_jax_checkpoint`, with the checkpoint's metadata; of a population run's
    checkpoint, member `member` (jaxgan.population.pick_member)."""
    from jaxgan.run.checkpoint import Checkpointer, DamagedCheckpoint

    directory = Path(directory)
    if not directory.is_dir():
        raise JaxganError(f"{directory}: no such checkpoint directory")
    step: Optional[int] = None
    if (directory / "checkpoints").is_dir():
        directory = directory / "checkpoints"
    elif directory.name.isdigit() and not any(p.name.isdigit() for p in directory.iterdir()):
        step, directory = int(directory.name), directory.parent
    gan, shape = gan_for(config, image_shape)
    checkpointer = Checkpointer(directory, keep=1_000_000)
    template = _template(gan, config, checkpointer, step)
    try:
        if step is None and checkpointer.latest_step() is None:
            raise JaxganError(f"{directory}: no jaxgan checkpoint here")
        try:  # without a step, the newest readable one (a damaged one is named and skipped)
            state, meta = checkpointer.restore(template, step)
        except DamagedCheckpoint:
            raise
        except JaxganError:
            _raise_first_mismatch(checkpointer, step or checkpointer.latest_step(), template, directory)
            raise
    finally:
        checkpointer.close()
    return pick_member(state, member, meta.get("population", 1), str(directory)), meta


def _template(gan, config: Config, checkpointer, step: Optional[int]) -> GANState:
    """The state to restore into: the record of the checkpoint says whether it holds a population."""
    step = step if step is not None else checkpointer.latest_step()
    try:
        population = checkpointer.read_meta(step).get("population", 1) if step is not None else 1
    except JaxganError:  # an unreadable record: the restore names the damage
        population = 1
    return init_population(gan, config.seed, population) if population > 1 else init_state(gan, config.seed)


def _raise_first_mismatch(checkpointer, step: int, template: GANState, directory: Path) -> None:
    """Restores the checkpoint as saved and names the first tensor that differs from the recipe."""
    import orbax.checkpoint as ocp
    from flax import serialization

    try:
        saved = checkpointer.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]
    except Exception:  # unreadable as saved too: the caller's error stands
        return
    def name(path) -> str:
        return "/".join(str(getattr(p, "key", getattr(p, "idx", p))) for p in path)

    flat = {name(k): v for k, v in jax.tree_util.tree_leaves_with_path(saved)}
    where = directory / str(step)
    leaves = jax.tree_util.tree_leaves_with_path(serialization.to_state_dict(template))
    expected_leaves = [(name(k), v) for k, v in leaves]
    # weights first (G before D), then statistics, then optimiser state
    order = ("/params/", "/batch_stats/", "/opt_state/")
    expected_leaves.sort(key=lambda kv: (next((i for i, o in enumerate(order) if o in f"/{kv[0]}/"), len(order)),
                                         not kv[0].startswith("g/")))
    for key, leaf in expected_leaves:
        expected = tuple(np.shape(leaf))
        if key not in flat:
            raise JaxganError(f"{where}: checkpoint has no {key} (the recipe expects shape {expected})")
        if tuple(np.shape(flat[key])) != expected:
            raise JaxganError(f"{where}: {key} has shape {tuple(np.shape(flat[key]))}, the recipe expects {expected}")
