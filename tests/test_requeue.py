"""A requeued job runs the same command each time: `jaxgan.train ... --resume auto` starts the run
when its folder has no checkpoint and continues it when it has one. Killed at random moments
(the first time before any checkpoint), then run again unchanged, it ends bit-identical to a run
never interrupted, each attempt picking up from the newest checkpoint. Another recipe's run
in the folder is still refused.
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

import numpy as np

from jaxgan import train
from jaxgan.config import load_config
from jaxgan.gan import build_gan, init_state
from jaxgan.run.loop import train_and_evaluate
from tests.conftest import FASHION_CONFIG, REPO
from tests.test_crash_safety import TIMEOUT_S, _assert_identical, _complete, _metrics, _restore, _wait

MAX_STEPS = 48  # 20 steps an epoch (400 images, batch 20)


def _sets(fashion_dir: Path) -> list[str]:
    return [f"data.root={fashion_dir}", "train.batch_size=20", "train.steps_per_dispatch=4", "train.log_every=4",
            "train.sample_every=20", "train.checkpoint_every=8", "train.keep_checkpoints=2",
            f"train.max_steps={MAX_STEPS}"]


class _Job:
    """The one command of a requeued job, launched again and again on the same run folder."""

    def __init__(self, tmp_path: Path, fashion_dir: Path):
        self.tmp_path, self.workdir = tmp_path, tmp_path / "requeued"
        self.argv = [sys.executable, "-m", "jaxgan.train", "--config", str(FASHION_CONFIG),
                     "--workdir", str(self.workdir), "--no-progress", "--resume", "auto",
                     *[a for s in _sets(fashion_dir) for a in ("--set", s)]]
        self.env = {"PYTHONUNBUFFERED": "1", "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache"),
                    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
        self.logs: list[Path] = []

    @property
    def steps(self) -> list[int]:
        return _complete(self.workdir / "checkpoints")

    def finished(self) -> bool:
        """The last attempt trained to the end and wrote its summary."""
        summary = self.workdir / "summary.json"
        return (self.steps[-1:] == [MAX_STEPS] and summary.exists()
                and json.loads(summary.read_text())["finished"] and json.loads(summary.read_text())["step"] == MAX_STEPS)

    def launch(self) -> subprocess.Popen:
        log = self.tmp_path / f"attempt{len(self.logs)}.log"
        self.logs.append(log)
        return subprocess.Popen(self.argv, cwd=REPO, env={**os.environ, **self.env}, stdout=log.open("w"),
                                stderr=subprocess.STDOUT)

    def kill(self, proc: subprocess.Popen) -> bool:
        """SIGKILL; False if the attempt had ended already (then it must have finished)."""
        if proc.poll() is not None:
            assert proc.returncode == 0, self.logs[-1].read_text()[-3000:]
            return False
        proc.kill()
        assert proc.wait(timeout=TIMEOUT_S) == -signal.SIGKILL
        return True


def test_the_same_command_starts_and_resumes_a_killed_run_to_identical_parameters(tmp_path, fashion_dir):
    rng = random.Random(21)
    reference = tmp_path / "reference"
    train_and_evaluate(load_config(FASHION_CONFIG, _sets(fashion_dir)), reference, progress=False)
    job = _Job(tmp_path, fashion_dir)

    # killed before its first checkpoint: as soon as it has written the run's config.yaml
    proc = job.launch()
    assert _wait(proc, lambda: (job.workdir / "config.yaml").exists())
    assert job.kill(proc) and job.steps == []
    # then, each time after it has written a checkpoint of its own, at a random moment
    resumed_from: list[int] = []
    for _ in range(2):
        before = max(job.steps, default=0)
        if before:
            resumed_from.append(before)
        proc = job.launch()
        assert _wait(proc, lambda: max(job.steps, default=0) > before)
        time.sleep(rng.uniform(0.0, 1.0))
        if not job.kill(proc):
            break
    for _ in range(3):  # and run again until it ends
        if job.finished():
            break
        resumed_from.append(max(job.steps))
        proc = job.launch()
        assert proc.wait(timeout=TIMEOUT_S) == 0, job.logs[-1].read_text()[-3000:]
    assert job.finished()

    logs = [log.read_text() for log in job.logs]
    assert all("Traceback" not in log for log in logs)
    fresh = f"{job.workdir}: no checkpoint yet; starting the run from step 0 (--resume auto)"
    assert fresh in logs[0].splitlines() and fresh in logs[1].splitlines()
    for log, step in zip(logs[2:], resumed_from):  # each later attempt continued, never started over
        assert f"resuming {job.workdir} from its checkpoint at step {step} of {MAX_STEPS}" in log, log[-2000:]
    assert len(resumed_from) >= 2

    config = load_config(FASHION_CONFIG, _sets(fashion_dir))
    template = init_state(build_gan(config, (28, 28, 1)), config.seed)
    final, meta = _restore(job.workdir / "checkpoints", MAX_STEPS, template)
    want, _ = _restore(reference / "checkpoints", MAX_STEPS, template)
    assert meta["step"] == MAX_STEPS
    _assert_identical(final, want, "final state")
    assert _metrics(job.workdir) == _metrics(reference)
    assert all(np.all(np.isfinite(x)) for x in final if np.issubdtype(x.dtype, np.inexact))


def test_resume_auto_refuses_another_recipes_run_and_plain_resume_an_empty_folder(tmp_path, fashion_dir, capsys):
    run = tmp_path / "run"
    sets = [a for s in _sets(fashion_dir) for a in ("--set", s)]
    base = ["--config", str(FASHION_CONFIG), "--workdir", str(run), "--no-progress", *sets]
    train_and_evaluate(load_config(FASHION_CONFIG, [*_sets(fashion_dir), "train.max_steps=8"]), run, progress=False)
    capsys.readouterr()
    for extra in (["--resume", "auto", "--set", "model.generator.hidden=[128]"], ["--resume", "auto", "--set", "seed=7"]):
        assert train.main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {run}: --resume with a different recipe: ") and err.count("\n") == 1, err
    empty = tmp_path / "empty"
    assert train.main(["--config", str(FASHION_CONFIG), "--workdir", str(empty), *sets, "--resume"]) == 2
    assert capsys.readouterr().err == (f"error: {empty}: nothing to resume (no checkpoint in {empty / 'checkpoints'}); "
                                       "--resume auto starts a run that has none\n")
