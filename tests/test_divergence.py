"""The divergence guard: a NaN or infinite loss or parameter stops the run (or rolls it back)
naming the step and the quantity, and never reaches a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.run.checkpoint import Checkpointer, tensor_name
from jaxgan.config import load_config
from jaxgan.gan import build_gan, init_state
from jaxgan.errors import TrainingDiverged
from jaxgan.run.loop import train_and_evaluate
from jaxgan.steps import ChunkRunner

from tests.conftest import FASHION_CONFIG


def _overrides(fashion_dir: Path, *extra: str) -> list[str]:
    # chunks of 4; logs and checkpoints every 8, so a chunk ending at 4 mod 8 is checked
    # one dispatch late (the cheap path) and one ending at 0 mod 8 at once.
    return [f"data.root={fashion_dir}", "train.batch_size=20", "train.steps_per_dispatch=4",
            "train.log_every=8", "train.sample_every=8", "train.checkpoint_every=8",
            "train.max_steps=24", *extra]


def _inject(monkeypatch, at_step: int, what: str = "d_loss", times: int | None = None) -> dict:
    """Makes step `at_step` non-finite: metric `what`, or (a tensor name) one parameter value
    after the chunk holding that step, leaving the metrics finite. `times`: how often."""
    real = ChunkRunner.run  # the loop's chunks on either data path (data.on_device)
    hits = {"n": 0}

    def run(runner, state, chunk, count):
        start = int(state.step)
        state, metrics = real(runner, state, chunk, count)
        if start < at_step <= start + count and (times is None or hits["n"] < times):
            hits["n"] += 1
            if what in metrics:
                metrics = {**metrics, what: metrics[what].at[at_step - start - 1].set(jnp.nan)}
            else:
                def poison(path, x):
                    return x.at[(0,) * x.ndim].set(jnp.inf) if "d.params." + tensor_name(path) == what else x
                state = state.replace(d=state.d.replace(params=jax.tree_util.tree_map_with_path(poison, state.d.params)))
        return state, metrics

    monkeypatch.setattr(ChunkRunner, "run", run)
    return hits


def _train(workdir, overrides, resume=False):
    return train_and_evaluate(load_config(FASHION_CONFIG, overrides), workdir, resume=resume, progress=False)


def _steps(workdir: Path) -> list[int]:
    return sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())


def _lines(workdir: Path) -> list[dict]:
    return [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_nan_metric_stops_naming_step_and_quantity_keeping_last_checkpoint(tmp_path, fashion_dir, monkeypatch):
    _inject(monkeypatch, at_step=10, what="g_loss")  # in chunk 8..12, checked after 12..16 is dispatched
    with pytest.raises(TrainingDiverged) as err:
        _train(tmp_path / "run", _overrides(fashion_dir))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("step 10: g_loss is nan (training diverged); stopped; the last good checkpoint, "
                              "step 8, is kept (--resume continues from it)"), message
    assert _steps(tmp_path / "run") == [8]
    assert _lines(tmp_path / "run")[-1] == {"step": 10, "event": "diverged", "quantity": "g_loss", "value": "nan",
                                            "wall_s": _lines(tmp_path / "run")[-1]["wall_s"]}
    # --resume (how often and how to react may change) continues from the good checkpoint
    monkeypatch.undo()
    summary = _train(tmp_path / "run", _overrides(fashion_dir, "train.on_divergence=rollback"), resume=True)
    assert summary["start_step"] == 8 and summary["finished"]
    assert [l["step"] for l in _lines(tmp_path / "run")] == [8, 16, 24]  # the event line was dropped


def test_non_finite_parameter_is_never_checkpointed(tmp_path, fashion_dir, monkeypatch):
    _inject(monkeypatch, at_step=16, what="d.params.fc1.kernel")  # metrics stay finite
    with pytest.raises(TrainingDiverged, match=r"^step 16: d\.params\.fc1\.kernel is inf \(in 1 of 65536 values\) "
                                               r"\(training diverged\); stopped; the last good checkpoint, step 8"):
        _train(tmp_path / "run", _overrides(fashion_dir))
    assert _steps(tmp_path / "run") == [8]
    checkpointer = Checkpointer(tmp_path / "run" / "checkpoints")
    config = load_config(FASHION_CONFIG, _overrides(fashion_dir))
    state, _ = checkpointer.restore(init_state(build_gan(config, (28, 28, 1)), config.seed))
    checkpointer.close()
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(state.d.params))


def test_rollback_restores_last_good_checkpoint_with_a_new_random_stream(tmp_path, fashion_dir, monkeypatch):
    hits = _inject(monkeypatch, at_step=13, times=1)
    overrides = _overrides(fashion_dir, "train.on_divergence=rollback")
    summary = _train(tmp_path / "run", overrides)
    assert hits["n"] == 1 and summary["finished"] and summary["step"] == 24
    lines = _lines(tmp_path / "run")
    events = [l for l in lines if "event" in l]
    assert len(events) == 1
    assert {k: events[0][k] for k in ("step", "event", "diverged_at", "quantity", "rollback", "max_rollbacks")} == {
        "step": 8, "event": "rollback", "diverged_at": 13, "quantity": "d_loss", "rollback": 1, "max_rollbacks": 3}
    assert [l["step"] for l in lines] == [8, 8, 16, 24]  # the log of step 8, the event, then the replay
    config = load_config(FASHION_CONFIG, overrides)
    fresh = init_state(build_gan(config, (28, 28, 1)), config.seed)
    checkpointer = Checkpointer(tmp_path / "run" / "checkpoints")
    state, _ = checkpointer.restore(fresh)
    checkpointer.close()
    np.testing.assert_array_equal(np.asarray(state.rng), np.asarray(jax.random.fold_in(fresh.rng, 1)))


def test_rollback_gives_up_after_max_rollbacks(tmp_path, fashion_dir, monkeypatch):
    _inject(monkeypatch, at_step=13)  # every time
    with pytest.raises(TrainingDiverged, match=r"^step 13: d_loss is nan \(training diverged\); stopped after 2 "
                                               r"rollback\(s\); the last good checkpoint, step 8, is kept"):
        _train(tmp_path / "run", _overrides(fashion_dir, "train.on_divergence=rollback", "train.max_rollbacks=2"))
    events = [l["event"] for l in _lines(tmp_path / "run") if "event" in l]
    assert events == ["rollback", "rollback", "diverged"]
    assert _steps(tmp_path / "run") == [8]


def test_cli_huge_learning_rate_is_one_line_and_exit_3(tmp_path, fashion_dir, capsys):
    from jaxgan.train import main

    sets = [a for o in _overrides(fashion_dir, "optimizer.discriminator.lr=1e30") for a in ("--set", o)]
    rc = main(["--config", str(FASHION_CONFIG), "--workdir", str(tmp_path / "run"), *sets, "--no-progress"])
    err = capsys.readouterr().err
    errors = [l for l in err.splitlines() if l.startswith("error: ")]
    assert rc == 3 and len(errors) == 1, err
    assert errors[0].startswith("error: step 1: ") and " is nan (training diverged); stopped; no checkpoint had been" \
        " written; lower the learning rate or set train.on_divergence=rollback" in errors[0], errors[0]
    assert not any(p.name.isdigit() for p in (tmp_path / "run" / "checkpoints").iterdir())
