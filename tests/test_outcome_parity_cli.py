"""benchmarks/outcome_parity.py refuses --jax-population over seeds that one population cannot
train (member k is seed S0 + k), with one error line, before training anything; --jobs N runs
N trainings at once."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading

import pytest

from tests.conftest import REPO


def test_jax_population_needs_consecutive_seeds(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/outcome_parity.py", "--jax-population", "--seeds", "0", "2",
                           "--workdir", str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--jax-population trains seeds S0..S0+N-1; got --seeds 0 2" in errors[0], done.stderr
    assert not any(tmp_path.iterdir())  # nothing trained


def _outcome_parity():
    spec = importlib.util.spec_from_file_location("outcome_parity", REPO / "benchmarks" / "outcome_parity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_jobs_run_that_many_trainings_at_once(tmp_path, monkeypatch):
    outcome_parity = _outcome_parity()
    together = threading.Barrier(2, timeout=20)  # passes only while two trainings run at once
    started = []

    def train(backend, config, workdir, sets, torch_threads=1):
        started.append((backend, workdir.name, sets))
        together.wait()
        return 7.0

    monkeypatch.setattr(outcome_parity, "train", train)
    args = outcome_parity.parse_args(["--seeds", "0", "1", "2", "--jax-population", "--jobs", "2",
                                      "--workdir", str(tmp_path), "--steps", "5"])
    jobs = outcome_parity.training_jobs(args, ["data.root=x"], ["jax", "torch"])
    walls = outcome_parity.run_jobs(jobs, "recipe.yaml", args.jobs, args.torch_threads)
    assert sorted(walls) == sorted(run for _, _, run, _ in jobs) and set(walls.values()) == {7.0}
    assert sorted((b, name) for b, name, _ in started) == [
        ("jax", "jax-population-seed0-2"), ("torch", "torch-seed0"), ("torch", "torch-seed1"), ("torch", "torch-seed2")]
    population_sets = next(sets for b, _, sets in started if b == "jax")
    assert population_sets == ["train.max_steps=5", "seed=0", "train.population=3", "data.root=x"]


def test_jobs_must_be_positive(capsys):
    with pytest.raises(SystemExit) as stop:
        _outcome_parity().parse_args(["--jobs", "0"])
    assert stop.value.code == 2 and "--jobs must be positive, got 0" in capsys.readouterr().err


def test_a_failed_training_cancels_those_not_yet_started(tmp_path, monkeypatch):
    outcome_parity = _outcome_parity()
    started = []

    def train(backend, config, workdir, sets, torch_threads=1):
        started.append(workdir.name)
        if workdir.name == "torch-seed0":
            raise outcome_parity.JaxganError("torch training (torch-seed0) failed with exit code 1: boom")
        return 1.0

    monkeypatch.setattr(outcome_parity, "train", train)
    args = outcome_parity.parse_args(["--seeds", "0", "1", "2", "3", "--workdir", str(tmp_path)])
    jobs = outcome_parity.training_jobs(args, [], ["torch"])
    with pytest.raises(outcome_parity.JaxganError, match="torch-seed0"):
        outcome_parity.run_jobs(jobs, "recipe.yaml", 1, 1)
    assert len(started) <= 2, started  # the failed one, and at most one the worker took before the cancel
