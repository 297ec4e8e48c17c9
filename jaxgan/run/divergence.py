"""The divergence guard: a NaN or Inf is caught at its step, never saved, and either stops
the run or rolls it back to the last good checkpoint.

After every dispatch one on-device reduction says whether all of the chunk's metrics are
finite; it is read one dispatch late, so the check never stalls the device. Before every
checkpoint and evaluation the whole state is checked. With `train.on_divergence: stop` a
non-finite value ends the run with one line naming the step and the quantity
(`TrainingDiverged`: exit code 3), keeping the last good checkpoint; with `rollback` the
guard restores that checkpoint, folds the rollback count into the RNG key (new noise and
dropout from there, the same batches) and training goes on, at most `train.max_rollbacks`
times. Held by tests/test_divergence.py.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jaxgan.run.checkpoint import Checkpointer, tensor_name
from jaxgan.errors import TrainingDiverged
from jaxgan.gan import GANState
from jaxgan.parallel import to_host
from jaxgan.population import step_of

Metrics = dict[str, jax.Array]


class Diverged(Exception):
    """`quantity` was `value` at `step` (steps taken, as in metrics.jsonl)."""

    def __init__(self, step: int, quantity: str, value: str):
        super().__init__(step, quantity, value)
        self.step, self.quantity, self.value = step, quantity, value


@jax.jit
def all_finite(tree) -> jax.Array:
    """One device scalar: are all floating-point leaves of `tree` finite?"""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def check_metrics(chunks: list[tuple[int, Metrics, jax.Array]]) -> None:
    """Raises Diverged for the first non-finite metric of chunks (first_step, metrics, finite)."""
    for first, metrics, ok in chunks:
        if bool(to_host(ok)):
            continue
        host = {k: to_host(v) for k, v in metrics.items()}
        for j in range(len(next(iter(host.values())))):
            for key, values in host.items():
                if not np.isfinite(values[j]):
                    raise Diverged(first + j + 1, key, str(values[j]))


def check_state(state: GANState) -> None:
    """Raises Diverged naming the first non-finite tensor of `state` (params, optimiser, ...)."""
    if bool(to_host(all_finite(state))):
        return
    for path, leaf in jax.tree_util.tree_leaves_with_path(serialization.to_state_dict(state)):
        values = to_host(leaf)
        if np.issubdtype(values.dtype, np.inexact) and not np.all(np.isfinite(values)):
            bad = values[~np.isfinite(values)].flat[0]
            count = int((~np.isfinite(values)).sum())
            raise Diverged(step_of(state), tensor_name(path), f"{bad} (in {count} of {values.size} values)")


class DivergenceGuard:
    """Watches each chunk's metrics and answers a divergence with a stop or a rollback."""

    def __init__(self, policy: str, max_rollbacks: int, checkpointer: Checkpointer,
                 fresh_state: Callable[[], GANState]):
        self.policy, self.max_rollbacks = policy, max_rollbacks
        self.rollbacks = 0
        self._checkpointer = checkpointer
        self._fresh_state = fresh_state
        self._pending: list[tuple[int, Metrics, jax.Array]] = []  # chunks not yet checked

    def watch(self, first_step: int, metrics: Metrics) -> None:
        """Queues a dispatched chunk's check: one scalar, computed on the device."""
        self._pending.append((first_step, metrics, all_finite(metrics)))

    def check(self, latest_too: bool) -> None:
        """Checks the queued chunks; the latest one only if `latest_too` (its results are about
        to be used), else it waits a dispatch so the device keeps busy."""
        checked = self._pending if latest_too else self._pending[:-1]
        check_metrics(checked)
        del self._pending[: len(checked)]

    def recover(self, d: Diverged, run, wall_s: float, say: Callable[[str], Any]) -> GANState:
        """The state to go on from (the last good checkpoint's), or raises TrainingDiverged."""
        self._pending = []
        self._checkpointer.wait()
        last = self._checkpointer.latest_step()
        what = f"step {d.step}: {d.quantity} is {d.value} (training diverged)"
        if self.policy == "rollback" and self.rollbacks < self.max_rollbacks:
            self.rollbacks += 1
            good = self._restore_last_good(last)
            back = int(good.step)
            run.truncate_metrics_after(back)  # drop what was logged after the restored step
            run.log({"step": back, "event": "rollback", "diverged_at": d.step, "quantity": d.quantity,
                     "value": d.value, "rollback": self.rollbacks, "max_rollbacks": self.max_rollbacks,
                     "wall_s": wall_s})
            say(f"{what}; rolled back to step {back} with a new random stream "
                f"(rollback {self.rollbacks} of at most {self.max_rollbacks})")
            return good
        run.log({"step": d.step, "event": "diverged", "quantity": d.quantity, "value": d.value, "wall_s": wall_s})
        raise TrainingDiverged(f"{what}; stopped{self._gave_up()}; {self._kept(last)}")

    def _restore_last_good(self, last: Optional[int]) -> GANState:
        template = self._fresh_state()
        good = self._checkpointer.restore(template)[0] if last is not None else template
        # a new random stream from the restored step on, so the same steps are not replayed
        return good.replace(rng=jax.random.fold_in(good.rng, self.rollbacks))

    def _gave_up(self) -> str:
        return f" after {self.rollbacks} rollback(s)" if self.policy == "rollback" else ""

    def _kept(self, last: Optional[int]) -> str:
        kept = (f"the last good checkpoint, step {last}, is kept (--resume continues from it)" if last is not None
                else "no checkpoint had been written")
        if self.policy != "rollback":
            kept += "; lower the learning rate or set train.on_divergence=rollback"
        return kept
