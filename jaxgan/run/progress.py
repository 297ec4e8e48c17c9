"""What a person watching a run sees: the progress bar, the seeds' epoch lines, and the
means of the metrics they show.

`Progress` owns the loop's step count: the loop advances it after each chunk and resets it
after a rollback, and the bar follows.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from tqdm import tqdm

from jaxgan.parallel import to_host

# How the seeds name what they log.
LOG_NAMES = {"d_loss": "Loss_D", "g_loss": "Loss_G", "d_real": "D(x)", "d_fake": "D(G(z))",
              "d_fake_after": "D(G(z)) in G step"}

Metrics = dict[str, jax.Array]


class MetricWindow:
    """Per-step metrics (on the device) gathered until their means are taken."""

    def __init__(self):
        self._chunks: list[Metrics] = []

    def add(self, metrics: Metrics) -> None:
        self._chunks.append(metrics)

    def take_means(self) -> dict[str, float]:
        """Means over the steps gathered since the last call (one device->host read)."""
        chunks, self._chunks = self._chunks, []
        if not chunks:
            return {}
        means = {k: jnp.mean(jnp.concatenate([m[k] for m in chunks])) for k in chunks[0]}
        return {k: float(to_host(v)) for k, v in means.items()}

    def take_member_means(self) -> list[dict[str, float]]:
        """take_means of a population's metrics, each of shape (steps, members): one dict per
        member (one device->host read)."""
        chunks, self._chunks = self._chunks, []
        if not chunks:
            return []
        means = {k: to_host(jnp.mean(jnp.concatenate([m[k] for m in chunks]), axis=0)) for k in chunks[0]}
        members = len(next(iter(means.values())))
        return [{k: float(v[i]) for k, v in means.items()} for i in range(members)]

    def clear(self) -> None:
        self._chunks = []


class Progress:
    """The step count, a tqdm bar over the run's steps and the epoch lines under it."""

    def __init__(self, name: str, start: int, total: int, steps_per_epoch: int, enabled: bool):
        self.step, self.total, self.steps_per_epoch = start, total, steps_per_epoch
        self.epochs = -(-total // steps_per_epoch)  # the last one may be cut short by max_steps
        self._bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, disable=not enabled,
                         desc=name, smoothing=0.05)

    def advance(self, step: int) -> None:
        self._bar.update(step - self.step)
        self.step = step

    def reset(self, step: int) -> None:
        """After a rollback: the count goes back to the restored step."""
        self.step = self._bar.n = step
        self._bar.refresh()

    def show(self, means: dict[str, float]) -> None:
        self._bar.set_postfix({LOG_NAMES[k]: f"{means[k]:.3f}" for k in ("d_loss", "g_loss", "d_real", "d_fake")})

    def epoch_line(self, means: dict[str, float]) -> None:
        """The seeds' line at an epoch's end: its number of this run's epochs and its means."""
        epoch = -(-self.step // self.steps_per_epoch)
        self.write(f"epoch [{epoch}/{self.epochs}] step {self.step}/{self.total} d_loss: {means['d_loss']:.4f} "
                   f"g_loss: {means['g_loss']:.4f} D(x): {means['d_real']:.2f} D(G(z)): {means['d_fake']:.2f}")

    def write(self, line: str) -> None:
        self._bar.write(line)

    def close(self) -> None:
        self._bar.close()


def resume_line(workdir, start: int, total: int, steps_per_epoch: int) -> Optional[str]:
    """What a resumed run says first: where it picks up."""
    epoch = start // steps_per_epoch + 1
    return f"resuming {workdir} from its checkpoint at step {start} of {total} (epoch {epoch})"
