"""Where a run's wall time goes: start-up, compiling, training and closing.

`summary.json` reports them apart, so a slow start (imports, finding data, compiling) is
never mistaken for a slow step:

    startup_s    process start -> the first dispatch of train steps
    compile_s    XLA compilation in this process (tracing, lowering, backend compile)
    first_dispatch_s   the first dispatch: its compilation plus its steps
    train_s      the training loop, first dispatch included
    closing_s    after the loop: the last checkpoint, the closing figures, the summary
"""

from __future__ import annotations

import time
from typing import Optional

import jax

from jaxgan.run.process_clock import process_age_s

_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_compile_seconds = [0.0]
_listening = [False]


def _on_duration(name: str, seconds: float, **kwargs) -> None:
    if name in _COMPILE_EVENTS:
        _compile_seconds[0] += seconds


def install_compile_listener() -> None:
    """Counts this process's compile seconds from here on: a process-wide jax.monitoring
    listener, so it is installed by a call (a run, a command), never by importing this module."""
    if not _listening[0]:
        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        _listening[0] = True


class RunClock:
    """Marks the phases of one training process; `report()` gives the seconds of each."""

    def __init__(self):
        install_compile_listener()
        self._t0 = time.perf_counter()
        self._age_at_t0 = process_age_s()
        self._compile_at_t0 = _compile_seconds[0]
        self.loop_start: Optional[float] = None
        self.first_dispatch: Optional[tuple[float, float]] = None  # (start, end)
        self.loop_end: Optional[float] = None
        self.steady_steps = 0  # steps after the first dispatch

    def _since_start(self, t: float) -> float:
        """Seconds from process start to perf_counter time t."""
        return self._age_at_t0 + (t - self._t0)

    def start_loop(self) -> None:
        self.loop_start = time.perf_counter()

    def dispatched(self, started: float, steps: int, ready) -> None:
        """Records a dispatch that began at `started`; waits on `ready` only for the first."""
        if self.first_dispatch is None:
            jax.block_until_ready(ready)
            self.first_dispatch = (started, time.perf_counter())
        else:
            self.steady_steps += steps

    def loop_wall_s(self) -> float:
        return time.perf_counter() - (self.loop_start or self._t0)

    def end_loop(self) -> None:
        self.loop_end = time.perf_counter()

    def report(self) -> dict[str, Optional[float]]:
        now = time.perf_counter()
        loop_end = self.loop_end or now
        train_s = loop_end - (self.loop_start or loop_end)
        first = (self.first_dispatch[1] - self.first_dispatch[0]) if self.first_dispatch else 0.0
        steady_s = train_s - first
        return {
            "startup_s": round(self._since_start(self.first_dispatch[0]), 3) if self.first_dispatch else None,
            "compile_s": round(_compile_seconds[0] - self._compile_at_t0, 3),
            "first_dispatch_s": round(first, 3),
            "train_s": round(train_s, 2),
            "closing_s": round(now - loop_end, 3),
            "steps_per_s": round(self.steady_steps / steady_s, 1) if self.steady_steps and steady_s > 0 else None,
        }
