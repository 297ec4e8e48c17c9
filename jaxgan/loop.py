"""The training loop: data in, jit-compiled chunks of steps, run folder out.

The loop itself is thin. Each dispatch runs `train.steps_per_dispatch` steps inside one
`jit(scan(train_step))` call on batches already on the device; the chunk is cut short only
where a log, sample, checkpoint or epoch boundary falls, so every event happens at its exact
step. Metrics stay on the device until a log boundary.

Divergence guard: after every dispatch one on-device reduction says whether all of the
chunk's metrics are finite (read one dispatch late, so the check never stalls the device),
and before every checkpoint the whole state is checked, so a NaN state is never saved. A
non-finite value either stops the run with one line naming the first bad step and the
quantity (`TrainingDiverged`, a JaxganError: exit code 2), keeping the last good
checkpoint, or, with `train.on_divergence: rollback`, restores that checkpoint, folds the
rollback count into the RNG key and goes on (at most `train.max_rollbacks` times).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
import yaml
from flax import serialization
from tqdm import tqdm

from jaxgan.checkpoint import Checkpointer, tensor_name
from jaxgan.config import Config, dump_config, validate
from jaxgan.data import BatchPipeline, load_images, to_float
from jaxgan.errors import JaxganError, TrainingDiverged
from jaxgan.quality import make_evaluator
from jaxgan.gan import GAN, GANState, build_gan, fixed_noise, init_state
from jaxgan.parallel import Placement, to_host
from jaxgan.prefetch import ChunkPrefetcher
from jaxgan.run_folder import SEED_NAMES, RunFolder, check_writable
from jaxgan.steps import make_generate, make_train_chunk

# Keys that may change between a run and its resumption: how long and how often, not what.
RESUMABLE_CHANGES = {
    "train.epochs", "train.max_steps", "train.steps_per_dispatch", "train.log_every",
    "train.sample_every", "train.checkpoint_every", "train.keep_checkpoints", "data.root",
    "data.cache_dir", "train.num_devices", "train.on_divergence", "train.max_rollbacks",
    # evaluation measures the run; it does not change what is trained
    "eval.every", "eval.num_samples", "eval.metric", "eval.features", "eval.inception_weights",
    "eval.num_real", "eval.batch_size",
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
    try:
        old = yaml.safe_load(saved_config.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise JaxganError(f"{saved_config}: unreadable ({first[:160]}); this run folder cannot be resumed") from None
    if not isinstance(old, dict):
        raise JaxganError(f"{saved_config}: not a recipe mapping; this run folder cannot be resumed")
    try:  # keys added to the schema since the run was written take their defaults
        old = _flatten(validate(old, source=str(saved_config)).to_dict())
    except JaxganError:
        old = _flatten(old)
    new = _flatten(config.to_dict())
    for key in sorted(set(old) | set(new)):
        if key not in RESUMABLE_CHANGES and old.get(key) != new.get(key):
            raise JaxganError(
                f"{saved_config.parent}: --resume with a different recipe: {key} was "
                f"{old.get(key)!r}, now {new.get(key)!r}; use the run's own config.yaml or a new --workdir"
            )


class BestCheckpoint:
    """The checkpoint with the best evaluation score so far, in <workdir>/best/<step>, with
    <workdir>/best.json saying which step and its scores (read back on --resume)."""

    def __init__(self, workdir: Path, start_step: int):
        self.directory = workdir / "best"
        self.record_path = workdir / "best.json"
        self.record: Optional[dict[str, Any]] = None
        if start_step and self.record_path.exists():
            record = json.loads(self.record_path.read_text())
            self.record = record if record.get("step", 0) <= start_step else None
        self._checkpointer: Optional[Checkpointer] = None

    def offer(self, step: int, scores: dict[str, float], evaluator, state: GANState, meta: dict[str, Any]) -> bool:
        """Keeps `state` if its scores beat the best so far; True if it did."""
        if not evaluator.is_better(scores, self.record):
            return False
        if self._checkpointer is None:
            self._checkpointer = Checkpointer(self.directory, keep=1)
        self._checkpointer.save(state, meta)
        self._checkpointer.wait()
        self.record = {"step": step, **scores}
        tmp = self.record_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.record, indent=2) + "\n")
        os.replace(tmp, self.record_path)
        return True

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()


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


class _Diverged(Exception):
    """Inside the loop: `quantity` was `value` at `step` (steps taken, as in metrics.jsonl)."""

    def __init__(self, step: int, quantity: str, value: str):
        super().__init__(step, quantity, value)
        self.step, self.quantity, self.value = step, quantity, value


@jax.jit
def _all_finite(tree) -> jax.Array:
    """One device scalar: are all floating-point leaves of `tree` finite?"""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _check_metrics(chunks: list[tuple[int, dict[str, jax.Array], jax.Array]]) -> None:
    """Raises _Diverged for the first non-finite metric of dispatched chunks (first_step, metrics, ok)."""
    for first, metrics, ok in chunks:
        if bool(to_host(ok)):
            continue
        host = {k: to_host(v) for k, v in metrics.items()}
        for j in range(len(next(iter(host.values())))):
            for key, values in host.items():
                if not np.isfinite(values[j]):
                    raise _Diverged(first + j + 1, key, str(values[j]))
        raise _Diverged(first + 1, "a metric", "non-finite")  # not reached: ok said otherwise


def _check_state(state: GANState) -> None:
    """Raises _Diverged naming the first non-finite tensor of `state` (params, optimiser, ...)."""
    if bool(to_host(_all_finite(state))):
        return
    for path, leaf in jax.tree_util.tree_leaves_with_path(serialization.to_state_dict(state)):
        values = to_host(leaf)
        if np.issubdtype(values.dtype, np.inexact) and not np.all(np.isfinite(values)):
            bad = values[~np.isfinite(values)].flat[0]
            raise _Diverged(int(state.step), tensor_name(path), f"{bad} (in {int((~np.isfinite(values)).sum())} of {values.size} values)")
    raise _Diverged(int(state.step), "the state", "non-finite")


def check_free_space(workdir: Path, state: GANState, keep: int) -> None:
    """Fails before training if the disk cannot hold keep+1 checkpoints (one is written while
    the oldest still exists) plus 16 MiB for images and logs."""
    per_checkpoint = sum(int(np.prod(np.shape(x))) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(state))
    need = per_checkpoint * (keep + 1) + 16 * 2**20
    try:
        free = shutil.disk_usage(workdir).free
    except OSError:
        return
    if free < need:
        raise JaxganError(
            f"{workdir}: {free / 2**20:.1f} MiB free on its disk, but the run needs about {need / 2**20:.1f} MiB "
            f"({keep}+1 checkpoints of {per_checkpoint / 2**20:.1f} MiB, images and logs); free some space, lower "
            "train.keep_checkpoints or choose another --workdir"
        )


def _window_means(window: list[dict[str, jax.Array]]) -> dict[str, float]:
    means = {k: jnp.mean(jnp.concatenate([m[k] for m in window])) for k in window[0]}
    return {k: float(to_host(v)) for k, v in means.items()}


def train_and_evaluate(config: Config, workdir: str | Path, resume: bool = False,
                       progress: bool = True) -> dict[str, Any]:
    """Trains `config`'s recipe into `workdir`; returns the run summary (also summary.json)."""
    workdir = Path(workdir)
    tc = config.train
    check_writable(workdir)
    checkpointer = Checkpointer(workdir / "checkpoints", keep=tc.keep_checkpoints)
    if jax.process_index() == 0:
        checkpointer.discard_partial()  # left by a process killed while saving
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
    placement = Placement.create(tc.batch_size, tc.num_devices)
    # Restoring into a state already placed on this run's mesh lets a checkpoint written on
    # any device count continue on this one.
    state = placement.put_state(init_state(gan, config.seed))
    if resume:
        state, _ = checkpointer.restore(state)
    start = int(state.step)
    total = total_steps(config, pipeline.steps_per_epoch)
    check_free_space(workdir, state, tc.keep_checkpoints)
    if jax.process_index() == 0:
        dump_config(config, workdir / "config.yaml")
        # A summary describes the process that wrote it; this one writes its own at its end.
        # Left in place, an earlier process's would describe a run killed after it.
        (workdir / "summary.json").unlink(missing_ok=True)

    evaluator = make_evaluator(config)  # fails now if its classifier or weights are missing
    best = BestCheckpoint(workdir, start) if evaluator is not None else None
    run = RunFolder(workdir, start_step=start, enabled=jax.process_index() == 0)
    try:
        return _loop(config, gan, state, pipeline, placement, run, checkpointer, total, progress, evaluator, best)
    finally:
        run.close()
        checkpointer.close()
        if best is not None:
            best.close()


def _loop(config: Config, gan: GAN, state: GANState, pipeline: BatchPipeline, placement: Placement, run: RunFolder,
          checkpointer: Checkpointer, total: int, progress: bool, evaluator=None,
          best: Optional["BestCheckpoint"] = None) -> dict[str, Any]:
    tc = config.train
    spe = pipeline.steps_per_epoch
    vrange = value_range(config.data.scale)
    train_chunk = make_train_chunk(gan, donate=jax.default_backend() != "cpu")
    generate = make_generate(gan)
    z_fixed = fixed_noise(config.seed, tc.num_samples, gan.z_dim, gan.noise)
    every = [tc.log_every, tc.sample_every, tc.checkpoint_every, spe]
    if evaluator is not None:
        every.append(config.eval.every)

    def meta(state: GANState) -> dict[str, Any]:
        step = int(state.step)
        epoch, batch = pipeline.position(step)
        return {"recipe": config.name, "step": step, "epoch": epoch, "batch_in_epoch": batch,
                "image_shape": list(gan.image_shape)}

    def checkpoint(state: GANState) -> None:
        _check_state(state)  # a diverged state is never saved
        checkpointer.save(state, meta(state))

    def evaluate(state: GANState) -> None:
        """Scores the generator (FID, KID, coverage); keeps the best checkpoint by eval.metric."""
        _check_state(state)
        scores = evaluator(lambda z: generate(state, z))
        step = int(state.step)
        run.log({"step": step, **{f"eval/{k}": v for k, v in scores.items()}})
        if best.offer(step, scores, evaluator, state, meta(state)):
            bar.write(f"step {step}: best {config.eval.metric} so far, {scores[config.eval.metric]:.3f} (kept in {best.directory})")

    step = start = int(state.step)
    window: list[dict[str, jax.Array]] = []
    last_logged: dict[str, float] = {}
    timing = {"first_dispatch_s": None, "train_s": 0.0, "train_steps": 0}
    wall_start = time.perf_counter()
    bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, disable=not (progress and run.enabled),
               desc=config.name, smoothing=0.05)
    stopped_by: Optional[int] = None
    pending: list[tuple[int, dict[str, jax.Array], jax.Array]] = []  # chunks not yet checked
    rollbacks = 0

    def diverged(d: _Diverged) -> GANState:
        """Rolls back to the last good checkpoint (returned), or raises TrainingDiverged."""
        nonlocal rollbacks
        checkpointer.wait()
        last = checkpointer.latest_step()
        wall = round(time.perf_counter() - wall_start, 3)
        what = f"step {d.step}: {d.quantity} is {d.value} (training diverged)"
        if tc.on_divergence == "rollback" and rollbacks < tc.max_rollbacks:
            rollbacks += 1
            template = placement.put_state(init_state(gan, config.seed))
            good = checkpointer.restore(template)[0] if last is not None else template
            # a new random stream from the restored step on, so the same steps are not replayed
            good = good.replace(rng=jax.random.fold_in(good.rng, rollbacks))
            back = int(good.step)
            if run.enabled:
                run._truncate_metrics_after(back)  # drop what was logged after the restored step
            run.log({"step": back, "event": "rollback", "diverged_at": d.step, "quantity": d.quantity,
                     "value": d.value, "rollback": rollbacks, "max_rollbacks": tc.max_rollbacks, "wall_s": wall})
            bar.write(f"{what}; rolled back to step {back} with a new random stream "
                      f"(rollback {rollbacks} of at most {tc.max_rollbacks})")
            return good
        run.log({"step": d.step, "event": "diverged", "quantity": d.quantity, "value": d.value, "wall_s": wall})
        kept = (f"the last good checkpoint, step {last}, is kept (--resume continues from it)" if last is not None
                else "no checkpoint had been written")
        gave_up = f" after {rollbacks} rollback(s)" if tc.on_divergence == "rollback" else ""
        hint = "" if tc.on_divergence == "rollback" else "; lower the learning rate or set train.on_divergence=rollback"
        raise TrainingDiverged(f"{what}; stopped{gave_up}; {kept}{hint}")

    rows = placement.local_rows(tc.batch_size)  # this process's share of each batch

    def load_chunk(start: int, end: int):
        """Steps start .. end-1's batches, padded to a whole chunk (see make_train_chunk)."""
        local = pipeline.batches(start, end - start, rows)
        if len(local) < tc.steps_per_dispatch:
            pad = np.zeros((tc.steps_per_dispatch - len(local), *local.shape[1:]), local.dtype)
            local = np.concatenate([local, pad])
        return placement.put_batches(local, tc.batch_size)

    with _StopRequest() as stop, ChunkPrefetcher(load_chunk) as chunks:
        while step < total and stop.signal is None:
            try:
                end = _next_boundary(step, total, every, tc.steps_per_dispatch)
                batches = chunks.get(step, end)
                t0 = time.perf_counter()
                state, metrics = train_chunk(state, batches, end - step)
                if end - step < tc.steps_per_dispatch:
                    metrics = {k: v[: end - step] for k, v in metrics.items()}
                if end < total:  # gathered and transferred while the device trains
                    chunks.prefetch(end, _next_boundary(end, total, every, tc.steps_per_dispatch))
                pending.append((step, metrics, _all_finite(metrics)))  # one scalar, on the device
                window.append(metrics)
                if timing["first_dispatch_s"] is None:
                    jax.block_until_ready(state)
                    timing["first_dispatch_s"] = time.perf_counter() - t0
                else:
                    timing["train_steps"] += end - step
                step = end
                bar.update(end - bar.n)

                event = (step % tc.log_every == 0 or step % tc.sample_every == 0
                         or step % tc.checkpoint_every == 0 or step == total or stop.signal is not None)
                # Check every chunk: the previous one now (this one is queued behind it, so the
                # device keeps busy), this one too where something is about to be logged,
                # drawn or saved from it.
                checked = pending if event else pending[:-1]
                _check_metrics(checked)
                del pending[: len(checked)]

                if step % tc.log_every == 0 or step == total:
                    last_logged = _window_means(window)
                    window = []
                    epoch, _ = pipeline.position(step - 1)
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
                    run.save_samples(step, to_host(generate(state, z_fixed)), vrange)
                if evaluator is not None and (step % config.eval.every == 0 or step == total):
                    evaluate(state)
                if step % tc.checkpoint_every == 0 or step == total or stop.signal is not None:
                    checkpoint(state)
            except _Diverged as d:
                state = diverged(d)
                step = int(state.step)
                window, pending = [], []
                bar.n = step
                bar.refresh()
        stopped_by = stop.signal
    bar.close()
    jax.block_until_ready(state)
    wall = time.perf_counter() - wall_start
    timing["train_s"] = wall

    if stopped_by is not None:
        try:  # usually written inside the loop already; this covers a signal after the check
            _check_metrics(pending)
            checkpoint(state)
        except _Diverged as d:
            state = diverged(d)  # a rollback returns the last good checkpoint's state
            step = int(state.step)
            checkpoint(state)
        checkpointer.wait()
        print(f"stopped by signal {stopped_by} at step {step}; resume with --resume", flush=True)

    # Closing: a signal now waits until the last checkpoint is on disk and the figures are
    # drawn (seconds); a second one stops at once.
    with _StopRequest():
        fake = to_host(generate(state, z_fixed))
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
        "best": best.record if best is not None else None,
        **paths,
    }
    run.write_summary(summary)
    if stopped_by is not None:
        summary["interrupted"] = True
    return summary
