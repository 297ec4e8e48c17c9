"""A population's training run: N members of one recipe in one compiled program, one run folder.

The loop (`jaxgan.run.loop`) drives a population as it drives a single run; `PopulationRun`
changes what the run writes:

  - metrics.jsonl: one line per member per log step, with its `member` field;
  - samples/member_<k>/step_NNNNNNN.png: member k's fixed-noise grid; samples/step_NNNNNNN.png
    (and so progress.gif) a row of each member's first images, member 0 on top;
  - one checkpoint of the stacked GANState (every leaf has a leading axis of N); its record
    names the population and the frozen members, so that --resume continues each member as
    it was, frozen ones frozen;
  - summary.json: each member's final metrics, and their mean and standard deviation.

A member whose metrics or networks go NaN/Inf is frozen inside the compiled chunk
(jaxgan.population, freezing): the run names it in one line and one event line of
metrics.jsonl, and the other members train on. Once every member is frozen the run stops as a
diverged single run does.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.config import Config
from jaxgan.errors import JaxganError
from jaxgan.parallel import to_host
from jaxgan.run.divergence import Diverged, DivergenceGuard
from jaxgan.run.feed import ChunkFeed
from jaxgan.run.loop import TrainingRun, real_images
from jaxgan.run.schedule import Events
from jaxgan.steps import make_generate


def check_population(config: Config) -> None:
    """Refuses what a population run does not do, in one line naming the key."""
    if config.eval.every:
        raise JaxganError(f"train.population={config.train.population} does not evaluate while training: set "
                          "eval.every=0 and score the members afterwards with python -m jaxgan.evaluate --run RUN")
    if config.train.on_divergence == "rollback":
        raise JaxganError(f"train.population={config.train.population} freezes a member that diverges and trains "
                          "the others on: train.on_divergence=rollback is for single runs")


@jax.jit
def member_finite(metrics) -> jax.Array:
    """Per member: are all its metrics of the chunk finite? (metrics of shape (steps, members))"""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(m), axis=0) for m in jax.tree.leaves(metrics)]), axis=0)


def first_nonfinite(metrics: dict[str, np.ndarray], k: int) -> int:
    """The index of member k's first step with a non-finite metric."""
    bad = np.zeros(len(next(iter(metrics.values()))), bool)
    for values in metrics.values():
        bad |= ~np.isfinite(values[:, k])
    return int(np.argmax(bad))


def live_mean(per_member: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each metric over the members whose metrics are all finite."""
    live = [m for m in per_member if m and all(np.isfinite(v) for v in m.values())]
    return {key: float(np.mean([m[key] for m in live])) for key in live[0]} if live else {}


def spread(per_member: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation (ddof 1; 0 for one member) of each metric over the live members."""
    live = [m for m in per_member if m and all(np.isfinite(v) for v in m.values())]
    if not live:
        return {}
    return {key: {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}
            for key in live[0] for values in [[m[key] for m in live]]}


class MemberGuard:
    """The divergence guard of a population: each member that diverges is named once (the
    chunk has frozen it already); when none is left training, the run stops as a single
    run's guard stops it."""

    def __init__(self, guard: DivergenceGuard, members: int, frozen: tuple[int, ...],
                 report: Callable[[int, int], None]):
        self.guard, self.members, self.report = guard, members, report
        self.diverged_at: dict[int, Any] = {k: None for k in frozen}  # member -> step (None: before this process)
        self._pending: list[tuple[int, dict, jax.Array]] = []

    def watch(self, first_step: int, metrics) -> None:
        self._pending.append((first_step, metrics, member_finite(metrics)))

    def check(self, latest_too: bool) -> None:
        checked = self._pending if latest_too else self._pending[:-1]
        for first, metrics, ok in checked:
            for k in np.flatnonzero(~to_host(ok)):
                if int(k) not in self.diverged_at:
                    self._diverged(int(k), first + first_nonfinite({n: to_host(v) for n, v in metrics.items()}, k) + 1)
        del self._pending[: len(checked)]

    def _diverged(self, k: int, step: int) -> None:
        self.diverged_at[k] = step
        self.report(k, step)
        if len(self.diverged_at) == self.members:
            raise Diverged(step, f"member {k}, the last one training,", "NaN or Inf")

    def recover(self, d: Diverged, run, wall_s: float, say: Callable[[str], Any]):
        self._pending = []
        return self.guard.recover(d, run, wall_s, say)


@dataclasses.dataclass
class PopulationRun(TrainingRun):
    """A TrainingRun of `train.population` members; `frozen`: those the checkpoint says are."""

    frozen: tuple[int, ...] = ()

    def __post_init__(self):
        self.members = self.config.train.population
        super().__post_init__()
        self.generate = jax.jit(jax.vmap(make_generate(self.gan), in_axes=(0, None)))
        self.last_members: list[dict[str, float]] = [{} for _ in range(self.members)]
        self.guard = MemberGuard(self.guard, self.members, self.frozen, self._report)

    def make_feed(self) -> ChunkFeed:
        alive = self.placement.put_state(jnp.asarray([k not in self.frozen for k in range(self.members)]))
        return ChunkFeed(self.gan, self.pipeline, self.placement, self.config.train.steps_per_dispatch,
                         self.images_on_device, donate=jax.default_backend() != "cpu", alive=alive,
                         program=self.config.train.population_program)

    def frozen_now(self) -> list[int]:
        """The members frozen on the device (the host hears of them a dispatch later)."""
        return [int(k) for k in np.flatnonzero(~to_host(self.feed.runner.alive))]

    def meta(self, state) -> dict[str, Any]:
        return {**super().meta(state), "population": self.members, "frozen": self.frozen_now()}

    def _report(self, k: int, step: int) -> None:
        wall_s = round(self.clock.loop_wall_s(), 3)
        self.run.log({"step": step, "member": k, "event": "diverged", "wall_s": wall_s})
        self.progress.write(f"step {step}: member {k} diverged (NaN or Inf); it keeps its last finite state, "
                            "the other members train on")

    def handle(self, state, events: Events) -> None:
        """The events due after a chunk: log, sample, save (a population does not evaluate)."""
        step = self.progress.step
        if events.log:
            self.log_members(step)
        if events.epoch_end:
            means = live_mean(self.epoch_window.take_member_means())
            if means:
                self.progress.epoch_line(means)
        if events.sample:
            self.save_grids(step, state)
        if events.checkpoint:
            self.checkpoint(state)

    def log_members(self, step: int) -> None:
        """One metrics line per member still training; the bar shows their mean."""
        per_member = self.log_window.take_member_means()
        epoch, wall_s = self.pipeline.position(step - 1)[0], round(self.clock.loop_wall_s(), 3)
        for k, means in enumerate(per_member):
            if all(np.isfinite(v) for v in means.values()):
                self.run.log({"step": step, "member": k, "epoch": epoch, **means, "wall_s": wall_s})
                self.last_members[k] = means
        self.last_logged = live_mean(per_member)
        if self.last_logged:
            self.progress.show(self.last_logged)

    def save_grids(self, step: int, state):
        """Each member's grid, and the grid of a row of each member's first images; returns
        the images of that row grid and its path."""
        fake = to_host(self.generate(state, self.z_fixed))  # (members, samples, H, W, C)
        for k in range(self.members):
            self.run.save_member_samples(step, k, fake[k], self.value_range)
        nrow = min(8, fake.shape[1])
        rows = fake[:, :nrow].reshape(-1, *fake.shape[2:])
        return rows, self.run.save_samples(step, rows, self.value_range, nrow=nrow)

    def closing_figures(self, state) -> dict[str, str]:
        rows, samples = self.save_grids(self.progress.step, state)
        real = real_images(self.pipeline, len(rows), self.config.data.scale)
        return {"samples": str(samples), "progress_gif": str(self.run.save_progress_gif()),
                "loss_curves": str(self.run.plot_losses()),
                "real_vs_fake": str(self.run.real_vs_fake(real, rows, self.value_range))}

    def final_figures(self) -> dict[str, Any]:
        frozen = self.frozen_now()
        members = [{"member": k, "seed": self.config.seed + k, "frozen": k in frozen,
                    "diverged_at": self.guard.diverged_at.get(k), "final_metrics": self.last_members[k]}
                   for k in range(self.members)]
        live = [m for k, m in enumerate(self.last_members) if k not in frozen]
        return {"final_metrics": live_mean(live), "population": self.members, "frozen": frozen,
                "final_metrics_spread": spread(live), "members": members}
