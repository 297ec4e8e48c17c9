"""Checkpoints of the whole GAN state with orbax: resumable, atomic, the newest K kept.

A checkpoint holds the GANState as a plain nested dict of arrays (params, optimiser states,
BatchNorm statistics, step, RNG key) plus a JSON record (recipe name, step, epoch and batch
position). Orbax writes each step to a temporary directory and renames it when complete, so
an interrupted save never replaces a good checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp
from flax import serialization

from jaxgan.errors import JaxganError
from jaxgan.gan import GANState


class Checkpointer:
    """Saves and restores GANStates under `directory/<step>/`."""

    def __init__(self, directory: str | Path, keep: int = 3):
        self.directory = Path(directory).absolute()
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        )

    def latest_step(self) -> Optional[int]:
        return self.manager.latest_step()

    def save(self, state: GANState, meta: dict[str, Any]) -> None:
        step = int(state.step)
        if step in self.manager.all_steps():
            return
        tree = serialization.to_state_dict(state)
        self.manager.save(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)),
        )

    def restore(self, template: GANState, step: Optional[int] = None) -> tuple[GANState, dict[str, Any]]:
        """Restores into the structure of `template` (a freshly initialised state)."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise JaxganError(f"{self.directory}: no checkpoint to resume from")
        target = serialization.to_state_dict(template)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            restored = self.manager.restore(
                step,
                args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()),
            )
        except (ValueError, KeyError, TypeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise JaxganError(
                f"{self.directory / str(step)}: checkpoint does not fit this recipe's model ({first[:200]})"
            ) from None
        state = serialization.from_state_dict(template, restored["state"])
        return state, dict(restored["meta"])

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
