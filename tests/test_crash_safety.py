"""Crash safety: a run killed at any moment resumes from its last complete checkpoint and ends
bit-identical to a run never interrupted; Ctrl-C and SIGTERM stop cleanly with a checkpoint.

`python -m jaxgan.train` runs as a subprocess on the tiny Fashion-MNIST fixture with a
checkpoint every 8 steps (chunks of 4, so a stop by signal often lands between two). Each
attempt is interrupted at a seeded-random moment after it has written a checkpoint of its
own: SIGKILL while orbax's temporary checkpoint directory exists (a half-written save),
SIGKILL after a random delay, SIGINT or SIGTERM. After each one, every checkpoint the run
folder shows must restore and equal the uninterrupted run's checkpoint of that step bit for
bit; at the end the parameters, optimiser states and metrics.jsonl must equal it too.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgan.run.checkpoint import PARTIAL_MARK, Checkpointer
from jaxgan.config import load_config
from jaxgan.gan import build_gan, init_state
from jaxgan.run.loop import train_and_evaluate

from tests.conftest import FASHION_CONFIG, REPO

MAX_STEPS = 96  # 20 steps an epoch (400 images, batch 20)
TIMEOUT_S = 300


def _overrides(fashion_dir: Path, **changes) -> list[str]:
    keys = {
        "data.root": str(fashion_dir), "train.batch_size": 20, "train.steps_per_dispatch": 4,
        "train.log_every": 4, "train.sample_every": 20, "train.checkpoint_every": 8,
        "train.keep_checkpoints": 2, "train.max_steps": MAX_STEPS,
    }
    keys.update(changes)
    return [f"{k}={v}" for k, v in keys.items()]


def _complete(ck: Path) -> list[int]:
    return sorted(int(p.name) for p in ck.iterdir() if p.name.isdigit()) if ck.is_dir() else []


def _partial(ck: Path) -> list[str]:
    return sorted(p.name for p in ck.iterdir() if PARTIAL_MARK in p.name) if ck.is_dir() else []


def _finished(workdir: Path) -> bool:
    """The run folder shows a finished run: its newest checkpoint is MAX_STEPS and summary.json
    says so. summary.json existing is not enough: it is written by the last process that got to
    its end, and an attempt killed after its final checkpoint but before its own summary leaves
    an earlier attempt's there (one stopped by a signal: finished false, an earlier step)."""
    ck, path = workdir / "checkpoints", workdir / "summary.json"
    if not (_complete(ck) and _complete(ck)[-1] == MAX_STEPS and path.exists()):
        return False
    summary = json.loads(path.read_text())
    return bool(summary["finished"]) and summary["step"] == MAX_STEPS


class _Reference:
    """The uninterrupted run (in this process), with a checkpoint at every chunk end."""

    def __init__(self, root: Path, fashion_dir: Path):
        self.overrides = _overrides(fashion_dir, **{"train.checkpoint_every": 4, "train.keep_checkpoints": 1000})
        self.config = load_config(FASHION_CONFIG, self.overrides)
        self.workdir = root / "reference"
        train_and_evaluate(self.config, self.workdir, progress=False)
        self.template = init_state(build_gan(self.config, (28, 28, 1)), self.config.seed)
        self._leaves: dict[int, list[np.ndarray]] = {}

    def leaves(self, step: int):
        if step not in self._leaves:
            self._leaves[step] = _restore(self.workdir / "checkpoints", step, self.template)[0]
        return self._leaves[step]

    def has(self, step: int) -> bool:
        return (self.workdir / "checkpoints" / str(step)).is_dir()

    def metrics(self) -> list[dict]:
        return _metrics(self.workdir)


def _restore(ck: Path, step: int, template):
    checkpointer = Checkpointer(ck)
    try:
        state, meta = checkpointer.restore(template, step)
    finally:
        checkpointer.close()
    return [np.asarray(x) for x in jax.tree.leaves(state)], meta


def _metrics(workdir: Path) -> list[dict]:
    lines = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines() if l.strip()]
    return [{k: v for k, v in line.items() if k != "wall_s"} for line in lines]


def _assert_identical(a: list[np.ndarray], b: list[np.ndarray], what: str) -> None:
    assert len(a) == len(b) > 20, what
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y, err_msg=what)


def _check_visible_checkpoints(ck: Path, reference: _Reference, note: str) -> None:
    """Every checkpoint the folder shows restores, is the one its name says, and equals the
    uninterrupted run's of that step; orbax's latest is the newest complete one."""
    steps = _complete(ck)
    checkpointer = Checkpointer(ck)
    try:
        assert checkpointer.latest_step() == (steps[-1] if steps else None), note
    finally:
        checkpointer.close()
    for step in steps:
        leaves, meta = _restore(ck, step, reference.template)
        assert meta["step"] == step, note
        assert all(np.all(np.isfinite(x)) for x in leaves if np.issubdtype(x.dtype, np.inexact)), note
        if reference.has(step):
            _assert_identical(leaves, reference.leaves(step), f"{note}: checkpoint {step}")


def _wait(proc: subprocess.Popen, predicate, poll_s: float = 0.001) -> bool:
    """True once `predicate()` holds; False if the process ended first."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return predicate()
        time.sleep(poll_s)
    proc.kill()
    raise AssertionError("timed out waiting on the training process")


def _chaos(tmp_path: Path, fashion_dir: Path, schedule: list[str], seed: int, cache: Path) -> dict:
    """Runs the schedule of interruptions, then resumes to the end; checks against the reference."""
    rng = random.Random(seed)
    reference = _Reference(tmp_path, fashion_dir)
    workdir = tmp_path / "chaos"
    ck = workdir / "checkpoints"
    env = dict(os.environ, PYTHONUNBUFFERED="1", JAX_COMPILATION_CACHE_DIR=str(cache),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    sets = [a for o in _overrides(fashion_dir) for a in ("--set", o)]
    seen = {"partial_left": 0, "signal_stops": [], "kills": 0, "partial_names": []}

    def launch(n: int) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"attempt{n}.log"
        resume = ["--resume"] if _complete(ck) else []
        proc = subprocess.Popen(
            [sys.executable, "-m", "jaxgan.train", "--config", str(FASHION_CONFIG), "--workdir", str(workdir),
             *sets, "--no-progress", *resume],
            cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        )
        return proc, log

    for n, action in enumerate(schedule):
        before = max(_complete(ck), default=-1)
        proc, log = launch(n)
        # each attempt first writes a checkpoint of its own, so the schedule always progresses
        if not _wait(proc, lambda: max(_complete(ck), default=-1) > before):
            break  # finished (or failed) before it could be interrupted: checked below
        if proc.poll() is not None:
            break
        note = f"attempt {n} ({action}), log {log}"
        if action == "write":  # SIGKILL while a checkpoint is being written
            newest = max(_complete(ck))
            if not _wait(proc, lambda: any(int(p.split(".")[0]) > newest for p in _partial(ck))):
                break
            time.sleep(rng.choice([0.0, 0.0, rng.uniform(0.0, 0.05)]))
            proc.kill()
        elif action == "kill":  # SIGKILL at a random moment
            time.sleep(rng.uniform(0.0, 1.0))
            proc.kill()
        else:  # SIGINT / SIGTERM: a clean stop with a checkpoint at the current step
            signum = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM}[action]
            time.sleep(rng.uniform(0.0, 0.5))
            if _complete(ck)[-1] == MAX_STEPS:  # trained to the end already: nothing to stop
                proc.wait(timeout=TIMEOUT_S)
                break
            proc.send_signal(signum)
        rc = proc.wait(timeout=TIMEOUT_S)
        output = log.read_text()
        if action in ("write", "kill"):
            if rc == 0:
                break  # it finished first
            assert rc == -signal.SIGKILL, f"{note}: exit {rc}\n{output[-2000:]}"
            seen["kills"] += 1
            left = _partial(ck)
            seen["partial_left"] += bool(left)
            seen["partial_names"] += left
        else:
            if rc == 0 or (rc == -signum and _complete(ck)[-1] == MAX_STEPS):
                break  # the signal came as the finished run was closing
            assert rc == 130, f"{note}: exit {rc}\n{output[-2000:]}"
            line = next(l for l in output.splitlines() if l.startswith("stopped by signal"))
            stopped_at = int(line.split(" at step ")[1].split(";")[0])
            assert line == f"stopped by signal {int(signum)} at step {stopped_at}; resume with --resume", line
            assert _complete(ck)[-1] == stopped_at, f"{note}: no checkpoint at the stop step {stopped_at}"
            assert "Traceback" not in output, output[-2000:]
            seen["signal_stops"].append((action, stopped_at))
        _check_visible_checkpoints(ck, reference, note)

    # resume until finished: the next start also clears any half-written save; a run killed
    # after its final checkpoint (drawing its closing figures) resumes at MAX_STEPS and finishes
    for n in range(len(schedule), len(schedule) + 3):
        if _finished(workdir):
            break
        proc, log = launch(n)
        rc = proc.wait(timeout=TIMEOUT_S)
        assert rc == 0, f"final attempt {n}: exit {rc}\n{log.read_text()[-3000:]}"
    assert _partial(ck) == [], "a half-written checkpoint survived a resumed run"
    assert _complete(ck)[-1] == MAX_STEPS

    final, meta = _restore(ck, MAX_STEPS, reference.template)
    assert meta["step"] == MAX_STEPS
    _assert_identical(final, reference.leaves(MAX_STEPS), "final state")
    assert _metrics(workdir) == reference.metrics(), "metrics.jsonl differs from the uninterrupted run's"
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["finished"] and summary["step"] == MAX_STEPS
    return seen


@pytest.fixture(scope="module")
def compile_cache(tmp_path_factory) -> Path:
    """XLA's persistent cache, shared by the attempts: each compiles nothing after the first."""
    return tmp_path_factory.mktemp("jax_cache")


def test_kills_and_signals_resume_to_identical_parameters(tmp_path, fashion_dir, compile_cache):
    seen = _chaos(tmp_path, fashion_dir, ["sigint", "write", "sigterm", "kill"], seed=0, cache=compile_cache)
    assert [a for a, _ in seen["signal_stops"]] == ["sigint", "sigterm"], seen
    assert seen["kills"] >= 1, seen
    assert seen["partial_left"] >= 1, f"no kill landed inside a checkpoint write: {seen}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_many_random_kills_resume_to_identical_parameters(tmp_path, fashion_dir, compile_cache, seed):
    rng = random.Random(seed)
    schedule = [rng.choice(["write", "write", "kill", "kill", "sigint", "sigterm"]) for _ in range(10)]
    seen = _chaos(tmp_path, fashion_dir, schedule, seed=seed, cache=compile_cache)
    assert seen["kills"] + len(seen["signal_stops"]) >= 5, seen
