"""When things happen in a run: how many steps, where chunks end, which events fall where.

A chunk of steps runs as one compiled dispatch; it is cut short only where an event falls
(a log line, a sample grid, an evaluation, a checkpoint, an epoch's end), so every event
happens at its exact step whatever `train.steps_per_dispatch` is.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

from jaxgan.config import Config


def total_steps(config: Config, steps_per_epoch: int) -> int:
    """Steps of the whole run: all epochs, or train.max_steps if that is sooner."""
    steps = config.train.epochs * steps_per_epoch
    return min(steps, config.train.max_steps) if config.train.max_steps else steps


@dataclasses.dataclass(frozen=True)
class Events:
    """What is due after the step just taken."""

    log: bool
    sample: bool
    evaluate: bool
    checkpoint: bool
    epoch_end: bool

    @property
    def any_output(self) -> bool:
        """Something will be read from this chunk's results (so check them now)."""
        return self.log or self.sample or self.evaluate or self.checkpoint


@dataclasses.dataclass(frozen=True)
class Schedule:
    total: int
    steps_per_epoch: int
    chunk: int  # train.steps_per_dispatch
    log_every: int
    sample_every: int
    checkpoint_every: int
    eval_every: Optional[int] = None

    @classmethod
    def of(cls, config: Config, steps_per_epoch: int, evaluating: bool) -> "Schedule":
        tc = config.train
        return cls(total_steps(config, steps_per_epoch), steps_per_epoch, tc.steps_per_dispatch,
                   tc.log_every, tc.sample_every, tc.checkpoint_every,
                   config.eval.every if evaluating else None)

    @property
    def epochs(self) -> int:
        """Epochs this run reaches (the last one possibly partial, when max_steps ends it)."""
        return math.ceil(self.total / self.steps_per_epoch)

    def _intervals(self) -> list[int]:
        every = [self.log_every, self.sample_every, self.checkpoint_every, self.steps_per_epoch]
        return every + ([self.eval_every] if self.eval_every else [])

    def chunk_end(self, step: int) -> int:
        """The step at which the chunk starting at `step` must end."""
        stop = min(self.total, step + self.chunk)
        for interval in self._intervals():
            stop = min(stop, (step // interval + 1) * interval)
        return stop

    def events(self, step: int, stopping: bool = False) -> Events:
        """The events due once `step` steps are taken; `stopping`: a signal asked to stop."""
        last = step == self.total
        return Events(
            log=step % self.log_every == 0 or last,
            sample=step % self.sample_every == 0 or last,
            evaluate=bool(self.eval_every) and (step % self.eval_every == 0 or last),
            checkpoint=step % self.checkpoint_every == 0 or last or stopping,
            epoch_end=step % self.steps_per_epoch == 0 or last,
        )
