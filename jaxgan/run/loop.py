"""The training loop: data in, jit-compiled chunks of steps, run folder out.

    train_and_evaluate(config, workdir)
      opens the run (checkpoints, data, GAN, devices, run folder), then
      _train: for each chunk of steps
          its data (image indices, or streamed batches)  ->  steps.ChunkRunner  ->  the
          events due after it: log, sample, evaluate, checkpoint (TrainingRun.handle)
      _close: the closing figures and summary.json

Each dispatch runs `train.steps_per_dispatch` steps inside one `jit(scan(train_step))` call.
Where the images fit on the device (`data.on_device`, jaxgan.data.on_device) they are put there
once and a chunk is its int32 indices, gathered inside the call; otherwise its uint8 batches are
gathered on the host and transferred in the background (jaxgan.run.feed).
`schedule.Schedule` cuts a chunk short only where an event falls, so every event happens at
its exact step. Metrics stay on the device until a log boundary. A NaN or Inf is the
divergence guard's (`jaxgan.run.divergence`); Ctrl-C a `stop_signal.StopRequest`; the best
checkpoint by evaluation `best_checkpoint.BestCheckpoint`. With `train.population` > 1 the
same loop trains N members at once (`jaxgan.run.members.PopulationRun`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any, Optional

import jax
import numpy as np

from jaxgan.run.best_checkpoint import BestCheckpoint
from jaxgan.run.checkpoint import Checkpointer
from jaxgan.config import Config, dump_config
from jaxgan.data import BatchPipeline, load_images, to_float, value_range
from jaxgan.data.on_device import images_on_device, memory_budget
from jaxgan.run.divergence import Diverged, DivergenceGuard, check_state
from jaxgan.errors import JaxganError
from jaxgan.gan import GAN, GANState, build_gan, fixed_noise, make_init
from jaxgan.parallel import Placement, to_host
from jaxgan.population import init_population, step_of
from jaxgan.run.feed import ChunkFeed
from jaxgan.run.progress import MetricWindow, Progress, resume_line
from jaxgan.quality import make_evaluator
from jaxgan.run.resume import check_resumable
from jaxgan.run.clock import RunClock
from jaxgan.run.folder import RunFolder, check_run_folder, check_writable, close_all
from jaxgan.run.lock import RunLock
from jaxgan.run.schedule import Events, Schedule
from jaxgan.steps import make_generate
from jaxgan.run.stop_signal import StopRequest


def real_images(pipeline: BatchPipeline, count: int, scale: str) -> np.ndarray:
    """`count` real training images as floats, from as many of the first batches as it takes
    (the book's batches hold one image each)."""
    batches = pipeline.batches(0, -(-count // pipeline.batch_size))
    return np.asarray(to_float(batches.reshape(-1, *batches.shape[2:])[:count], scale))


@dataclasses.dataclass
class TrainingRun:
    """Everything one training process holds, and what it does at each event."""

    config: Config
    gan: GAN
    pipeline: BatchPipeline
    placement: Placement
    run: RunFolder
    checkpointer: Checkpointer
    schedule: Schedule
    progress: Progress
    guard: DivergenceGuard
    clock: RunClock
    evaluator: Any = None
    best: Optional[BestCheckpoint] = None
    images_on_device: bool = False  # data.on_device decided (jaxgan.data.on_device)

    def __post_init__(self):
        tc = self.config.train
        self.feed = self.make_feed()
        self.generate = make_generate(self.gan)
        self.z_fixed = fixed_noise(self.config.seed, tc.num_samples, self.gan.z_dim, self.config.model.noise)
        self.value_range = value_range(self.config.data.scale)
        self.log_window, self.epoch_window = MetricWindow(), MetricWindow()
        self.last_logged: dict[str, float] = {}

    def make_feed(self) -> ChunkFeed:
        return ChunkFeed(self.gan, self.pipeline, self.placement, self.config.train.steps_per_dispatch,
                         self.images_on_device, donate=jax.default_backend() != "cpu")

    def meta(self, state: GANState) -> dict[str, Any]:
        step = step_of(state)
        epoch, batch = self.pipeline.position(step)
        return {"recipe": self.config.name, "step": step, "epoch": epoch, "batch_in_epoch": batch,
                "image_shape": list(self.gan.image_shape)}

    def handle(self, state: GANState, events: Events) -> None:
        """The events due after a chunk, in the seeds' order: log, sample, evaluate, save."""
        step = self.progress.step
        if events.log:
            self.last_logged = self.log_window.take_means()
            self.run.log({"step": step, "epoch": self.pipeline.position(step - 1)[0], **self.last_logged,
                          "wall_s": round(self.clock.loop_wall_s(), 3)})
            self.progress.show(self.last_logged)
        if events.epoch_end:
            self.progress.epoch_line(self.epoch_window.take_means())
        if events.sample:
            self.run.save_samples(step, to_host(self.generate(state, self.z_fixed)), self.value_range)
        if events.evaluate:
            self.evaluate(state)
        if events.checkpoint:
            self.checkpoint(state)

    def evaluate(self, state: GANState) -> None:
        """Scores the generator (FID, KID, coverage); keeps the best checkpoint by eval.metric."""
        check_state(state)
        scores = self.evaluator(lambda z: self.generate(state, z))
        step, metric = step_of(state), self.config.eval.metric
        self.run.log({"step": step, **{f"eval/{k}": v for k, v in scores.items()}})
        if self.best.offer(step, scores, self.evaluator, state, self.meta(state)):
            self.progress.write(f"step {step}: best {metric} so far, {scores[metric]:.3f} (kept in {self.best.directory})")

    def checkpoint(self, state: GANState) -> None:
        check_state(state)  # a diverged state is never saved
        self.checkpointer.save(state, self.meta(state))

    def recover(self, d: Diverged) -> GANState:
        """After a divergence: the state to go on from (or TrainingDiverged is raised)."""
        state = self.guard.recover(d, self.run, round(self.clock.loop_wall_s(), 3), self.progress.write)
        self.progress.reset(step_of(state))
        self.log_window.clear()
        self.epoch_window.clear()
        return state

    def closing_figures(self, state: GANState) -> dict[str, str]:
        """The last grid, the progress GIF, the loss curves and real beside fake; their paths."""
        fake = to_host(self.generate(state, self.z_fixed))
        real = real_images(self.pipeline, self.config.train.num_samples, self.config.data.scale)
        return {
            "samples": str(self.run.save_samples(self.progress.step, fake, self.value_range)),
            "progress_gif": str(self.run.save_progress_gif()),
            "loss_curves": str(self.run.plot_losses()),
            "real_vs_fake": str(self.run.real_vs_fake(real, fake, self.value_range)),
        }

    def final_figures(self) -> dict[str, Any]:
        """What summary.json says of the trained model(s) at the end."""
        return {"final_metrics": self.last_logged}


def _train(t: TrainingRun, state: GANState, stop: StopRequest) -> GANState:
    """The loop: a chunk's batches, its steps in one dispatch, then the events due after it."""
    total = t.schedule.total
    t.clock.start_loop()
    with t.feed.prefetcher() as chunks:
        while t.progress.step < total and stop.signal is None:
            step = t.progress.step
            end = t.schedule.chunk_end(step)
            try:
                batches = chunks.get(step, end)
                started = time.perf_counter()
                state, metrics = t.feed.runner.run(state, batches, end - step)
                if end < total:  # gathered and transferred while the device trains
                    chunks.prefetch(end, t.schedule.chunk_end(end))
                t.clock.dispatched(started, end - step, state)
                t.guard.watch(step, metrics)
                t.log_window.add(metrics)
                t.epoch_window.add(metrics)
                t.progress.advance(end)
                events = t.schedule.events(end, stopping=stop.signal is not None)
                # the chunk before is checked now (this one is queued behind it, so the device
                # keeps busy); this one too where something is about to be read from it
                t.guard.check(latest_too=events.any_output)
                t.handle(state, events)
            except Diverged as d:
                state = t.recover(d)
    t.clock.end_loop()
    return state


def _stop_with_checkpoint(t: TrainingRun, state: GANState, signum: int) -> GANState:
    """After Ctrl-C/SIGTERM: the current state checked and saved (usually saved already)."""
    try:
        t.guard.check(latest_too=True)
        t.checkpoint(state)
    except Diverged as d:
        state = t.recover(d)  # a rollback returns the last good checkpoint's state
        t.checkpoint(state)
    t.checkpointer.wait()
    print(f"stopped by signal {signum} at step {t.progress.step}; resume with --resume", flush=True)
    return state


def _close(t: TrainingRun, state: GANState, start: int) -> dict[str, Any]:
    """The closing figures and the run summary. A signal now waits until the last checkpoint
    is on disk and the figures are drawn (seconds); a second one stops at once."""
    with StopRequest():
        paths = t.closing_figures(state)
        t.checkpointer.wait()
    step, timing = t.progress.step, t.clock.report()
    summary = {
        "recipe": t.config.name, "start_step": start, "step": step, "total_steps": t.schedule.total,
        "finished": step >= t.schedule.total, "epoch": step / t.pipeline.steps_per_epoch,
        "wall_s": timing["train_s"], **timing, "backend": jax.default_backend(),
        "data_on_device": t.images_on_device,
        **t.final_figures(), "latest_checkpoint": t.checkpointer.latest_step(),
        "best": t.best.record if t.best is not None else None, **paths,
    }
    t.run.write_summary(summary)
    return summary


def run_to_end(t: TrainingRun, state: GANState) -> dict[str, Any]:
    """Trains from `state` to the schedule's end (or a signal); returns the summary."""
    start = step_of(state)
    with StopRequest() as stop:
        state = _train(t, state, stop)
    t.progress.close()
    jax.block_until_ready(state)
    if stop.signal is not None:
        state = _stop_with_checkpoint(t, state, stop.signal)
    summary = _close(t, state, start)
    if stop.signal is not None:
        summary["interrupted"] = True
    return summary


RESUME_AUTO = "auto"  # --resume auto: continue the run if it has a checkpoint, else start it


def _open_checkpoints(workdir: Path, config: Config, resume: bool | str) -> tuple[Checkpointer, bool]:
    """The run's checkpointer and whether to resume, after checking that --resume (or its
    absence) fits the folder. With --resume auto, one command starts a run and continues it
    after any interruption (a requeued job): it resumes when a checkpoint exists, else starts
    the run, saying so; the folder's recipe must be this one either way."""
    checkpointer = Checkpointer(workdir / "checkpoints", keep=config.train.keep_checkpoints)
    try:
        if jax.process_index() == 0:
            checkpointer.discard_partial()  # left by a process killed while saving
        latest = checkpointer.latest_step()
        if resume == RESUME_AUTO:
            if (workdir / "config.yaml").exists():
                check_resumable(workdir / "config.yaml", config)
            resume = latest is not None
            if not resume and jax.process_index() == 0:
                print(f"{workdir}: no checkpoint yet; starting the run from step 0 (--resume auto)", flush=True)
        elif resume:
            if latest is None:
                raise JaxganError(f"{workdir}: nothing to resume (no checkpoint in {workdir / 'checkpoints'}); "
                                  "--resume auto starts a run that has none")
            check_resumable(workdir / "config.yaml", config)
        elif latest is not None:
            raise JaxganError(
                f"{workdir}: already holds a run (checkpoint at step {latest}); "
                "pass --resume to continue it, or choose another --workdir"
            )
    except JaxganError:
        checkpointer.close()
        raise
    return checkpointer, bool(resume)


def train_and_evaluate(config: Config, workdir: str | Path, resume: bool | str = False,
                       progress: bool = True) -> dict[str, Any]:
    """Trains `config`'s recipe into `workdir`; returns the run summary (also summary.json).

    The folder is locked for the whole run: a second trainer on it is refused in one line."""
    clock = RunClock()
    workdir = Path(workdir)
    check_run_folder(workdir)  # a folder that is not a jaxgan run is never written into
    check_writable(workdir)
    run_class = _run_class(config)
    with RunLock(workdir) if jax.process_index() == 0 else contextlib.nullcontext():
        return _train_locked(config, workdir, resume, progress, clock, run_class)


def _run_class(config: Config) -> type:
    """TrainingRun, or for `train.population` > 1 PopulationRun (the config checked for it)."""
    if config.train.population == 1:
        return TrainingRun
    from jaxgan.run.members import PopulationRun, check_population  # members builds on TrainingRun

    check_population(config)
    return PopulationRun


def _fresh_state(config: Config, gan: GAN, placement: Placement):
    """The function that makes a fresh state on the run's mesh: a GANState, or a population's
    stacked members. Restoring into a state already placed on this run's mesh lets a
    checkpoint written on any device count continue on this one."""
    if config.train.population > 1:
        return lambda: placement.put_state(init_population(gan, config.seed, config.train.population))
    init = make_init(gan, placement.replicated())  # the state is created on the mesh, compiled once
    return lambda: init(jax.random.PRNGKey(config.seed))


def _train_locked(config: Config, workdir: Path, resume: bool | str, progress: bool, clock: RunClock,
                  run_class: type) -> dict[str, Any]:
    tc = config.train
    checkpointer, resume = _open_checkpoints(workdir, config, resume)
    images = load_images(config.data)
    pipeline = BatchPipeline(images, tc.batch_size, config.seed, shuffle=config.data.shuffle)
    gan = build_gan(config, images.shape[1:])
    placement = Placement.create(tc.batch_size, tc.num_devices)
    on_device = images_on_device(config.data.on_device, images.nbytes, memory_budget(placement.local_devices()))

    fresh_state = _fresh_state(config, gan, placement)
    state, record = fresh_state(), {}
    if resume:
        state, record = checkpointer.restore(state)
    start = step_of(state)
    checkpointer.check_room(state, workdir)
    if jax.process_index() == 0:
        dump_config(config, workdir / "config.yaml")
        # A summary describes the process that wrote it; this one writes its own at its end.
        # Left in place, an earlier process's would describe a run killed after it.
        (workdir / "summary.json").unlink(missing_ok=True)

    evaluator = make_evaluator(config)  # fails now if its classifier or weights are missing
    best = BestCheckpoint(workdir, start) if evaluator is not None else None
    run = RunFolder(workdir, start_step=start, enabled=jax.process_index() == 0)
    schedule = Schedule.of(config, pipeline.steps_per_epoch, evaluating=evaluator is not None)
    bar = Progress(config.name, start, schedule.total, pipeline.steps_per_epoch, enabled=progress and run.enabled)
    if resume and run.enabled:
        bar.write(resume_line(workdir, start, schedule.total, pipeline.steps_per_epoch))
    guard = DivergenceGuard(tc.on_divergence, tc.max_rollbacks, checkpointer, fresh_state)
    frozen = {"frozen": tuple(record.get("frozen", ()))} if tc.population > 1 else {}
    t = run_class(config, gan, pipeline, placement, run, checkpointer, schedule, bar, guard, clock, evaluator, best,
                  images_on_device=on_device, **frozen)
    failed = True
    try:
        summary = run_to_end(t, state)
        failed = False
        return summary
    finally:  # after an error, a failure to close never hides it
        close_all(run, checkpointer, best, after_error=failed)
