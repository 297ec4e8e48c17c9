"""The training loop: data in, jit-compiled chunks of steps, run folder out.

The loop itself is thin. Each dispatch runs `train.steps_per_dispatch` steps inside one
`jit(scan(train_step))` call on batches already on the device; the chunk is cut short only
where a log, sample, checkpoint or epoch boundary falls, so every event happens at its exact
step. Metrics stay on the device until a log boundary.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
import yaml
from tqdm import tqdm

from jaxgan.checkpoint import Checkpointer
from jaxgan.config import Config, dump_config
from jaxgan.data import BatchPipeline, load_images, to_float
from jaxgan.errors import JaxganError
from jaxgan.gan import GAN, GANState, build_gan, fixed_noise, init_state
from jaxgan.run_folder import SEED_NAMES, RunFolder, check_writable
from jaxgan.steps import make_generate, make_train_chunk

# Keys that may change between a run and its resumption: how long and how often, not what.
RESUMABLE_CHANGES = {
    "train.epochs", "train.max_steps", "train.steps_per_dispatch", "train.log_every",
    "train.sample_every", "train.checkpoint_every", "train.keep_checkpoints", "data.root",
    "data.cache_dir",
}


def total_steps(config: Config, steps_per_epoch: int) -> int:
    """Steps of the whole run: all epochs, or train.max_steps if that is sooner."""
    steps = config.train.epochs * steps_per_epoch
    return min(steps, config.train.max_steps) if config.train.max_steps else steps


def value_range(scale: str) -> tuple[float, float]:
    return (-1.0, 1.0) if scale == "minus_one_one" else (0.0, 1.0)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def check_resumable(saved_config: Path, config: Config) -> None:
    """Refuses to resume a run folder with a recipe that differs in what it trains."""
    if not saved_config.exists():
        raise JaxganError(f"{saved_config}: missing; this folder was not written by jaxgan.train")
    old = _flatten(yaml.safe_load(saved_config.read_text()) or {})
    new = _flatten(config.to_dict())
    for key in sorted(set(old) | set(new)):
        if key not in RESUMABLE_CHANGES and old.get(key) != new.get(key):
            raise JaxganError(
                f"{saved_config.parent}: --resume with a different recipe: {key} was "
                f"{old.get(key)!r}, now {new.get(key)!r}; use the run's own config.yaml or a new --workdir"
            )


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag the loop checks between dispatches."""

    def __init__(self):
        self.signal: Optional[int] = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _next_boundary(step: int, total: int, every: list[int], max_chunk: int) -> int:
    """The step at which the chunk starting at `step` must end."""
    stop = min(total, step + max_chunk)
    for interval in every:
        stop = min(stop, (step // interval + 1) * interval)
    return stop


def _window_means(window: list[dict[str, jax.Array]]) -> dict[str, float]:
    stacked = {k: jnp.concatenate([m[k] for m in window]) for k in window[0]}
    return {k: float(jnp.mean(v)) for k, v in jax.device_get(stacked).items()}


def train_and_evaluate(config: Config, workdir: str | Path, resume: bool = False,
                       progress: bool = True) -> dict[str, Any]:
    """Trains `config`'s recipe into `workdir`; returns the run summary (also summary.json)."""
    workdir = Path(workdir)
    tc = config.train
    check_writable(workdir)
    checkpointer = Checkpointer(workdir / "checkpoints", keep=tc.keep_checkpoints)
    latest = checkpointer.latest_step()
    if resume:
        if latest is None:
            raise JaxganError(f"{workdir}: nothing to resume (no checkpoint in {workdir / 'checkpoints'})")
        check_resumable(workdir / "config.yaml", config)
    elif latest is not None:
        raise JaxganError(
            f"{workdir}: already holds a run (checkpoint at step {latest}); "
            "pass --resume to continue it, or choose another --workdir"
        )

    images = load_images(config.data)
    pipeline = BatchPipeline(images, tc.batch_size, config.seed, shuffle=config.data.shuffle)
    gan = build_gan(config, images.shape[1:])
    state = init_state(gan, config.seed)
    if resume:
        state, _ = checkpointer.restore(state)
    start = int(state.step)
    total = total_steps(config, pipeline.steps_per_epoch)
    dump_config(config, workdir / "config.yaml")

    run = RunFolder(workdir, start_step=start)
    try:
        return _loop(config, gan, state, pipeline, run, checkpointer, total, progress)
    finally:
        run.close()
        checkpointer.close()


def _loop(config: Config, gan: GAN, state: GANState, pipeline: BatchPipeline, run: RunFolder,
          checkpointer: Checkpointer, total: int, progress: bool) -> dict[str, Any]:
    tc = config.train
    spe = pipeline.steps_per_epoch
    vrange = value_range(config.data.scale)
    train_chunk = make_train_chunk(gan, donate=jax.default_backend() != "cpu")
    generate = make_generate(gan)
    z_fixed = fixed_noise(config.seed, tc.num_samples, gan.z_dim, gan.noise)
    every = [tc.log_every, tc.sample_every, tc.checkpoint_every, spe]

    def checkpoint(state: GANState) -> None:
        step = int(state.step)
        epoch, batch = pipeline.position(step)
        checkpointer.save(state, {"recipe": config.name, "step": step, "epoch": epoch, "batch_in_epoch": batch,
                                  "image_shape": list(gan.image_shape)})

    step = start = int(state.step)
    window: list[dict[str, jax.Array]] = []
    last_logged: dict[str, float] = {}
    timing = {"first_dispatch_s": None, "train_s": 0.0, "train_steps": 0}
    wall_start = time.perf_counter()
    bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, disable=not progress,
               desc=config.name, smoothing=0.05)
    stopped_by: Optional[int] = None
    with _StopRequest() as stop:
        while step < total and stop.signal is None:
            end = _next_boundary(step, total, every, tc.steps_per_dispatch)
            batches = jax.device_put(pipeline.batches(step, end - step))
            t0 = time.perf_counter()
            state, metrics = train_chunk(state, batches)
            window.append(metrics)
            if timing["first_dispatch_s"] is None:
                jax.block_until_ready(state)
                timing["first_dispatch_s"] = time.perf_counter() - t0
            else:
                timing["train_steps"] += end - step
            step = end
            bar.update(end - bar.n)

            if step % tc.log_every == 0 or step == total:
                jax.block_until_ready(state)
                last_logged = _window_means(window)
                window = []
                epoch, _ = pipeline.position(step - 1)
                bad = [k for k, v in last_logged.items() if not np.isfinite(v)]
                if bad:
                    raise JaxganError(
                        f"step {step}: {bad[0]} is {last_logged[bad[0]]} (training diverged); "
                        f"the last good checkpoint is step {checkpointer.latest_step()}"
                    )
                run.log({"step": step, "epoch": epoch, **last_logged,
                         "wall_s": round(time.perf_counter() - wall_start, 3)})
                bar.set_postfix({SEED_NAMES[k]: f"{last_logged[k]:.3f}" for k in ("d_loss", "g_loss", "d_real", "d_fake")})
            if step % spe == 0 and last_logged:
                bar.write(
                    f"epoch [{step // spe}/{tc.epochs}] d_loss: {last_logged['d_loss']:.4f} "
                    f"g_loss: {last_logged['g_loss']:.4f} D(x): {last_logged['d_real']:.2f} "
                    f"D(G(z)): {last_logged['d_fake']:.2f}"
                )
            if step % tc.sample_every == 0 or step == total:
                run.save_samples(step, np.asarray(generate(state, z_fixed)), vrange)
            if step % tc.checkpoint_every == 0 or step == total:
                checkpoint(state)
        stopped_by = stop.signal
    bar.close()
    jax.block_until_ready(state)
    wall = time.perf_counter() - wall_start
    timing["train_s"] = wall

    if stopped_by is not None:
        checkpoint(state)
        checkpointer.wait()
        print(f"stopped by signal {stopped_by} at step {step}; resume with --resume", flush=True)

    fake = np.asarray(generate(state, z_fixed))
    real = np.asarray(to_float(pipeline.batch(0)[: tc.num_samples], config.data.scale))
    paths = {
        "samples": str(run.save_samples(step, fake, vrange)),
        "progress_gif": str(run.save_progress_gif()),
        "loss_curves": str(run.plot_losses()),
        "real_vs_fake": str(run.real_vs_fake(real, fake, vrange)),
    }
    checkpointer.wait()
    steady = timing["train_steps"]
    summary = {
        "recipe": config.name,
        "start_step": start,
        "step": step,
        "total_steps": total,
        "finished": step >= total,
        "epoch": step / pipeline.steps_per_epoch,
        "wall_s": round(wall, 2),
        "compile_and_first_dispatch_s": round(timing["first_dispatch_s"] or 0.0, 3),
        "steps_per_s": round(steady / max(wall - (timing["first_dispatch_s"] or 0.0), 1e-9), 1) if steady else None,
        "backend": jax.default_backend(),
        "final_metrics": last_logged,
        "latest_checkpoint": checkpointer.latest_step(),
        **paths,
    }
    run.write_summary(summary)
    if stopped_by is not None:
        summary["interrupted"] = True
    return summary
