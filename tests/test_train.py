"""The whole loop: a smoke run, exact resume, the run folder, and the CLI's errors."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgan.run.checkpoint import Checkpointer
from jaxgan.config import load_config
from jaxgan.errors import JaxganError
from jaxgan.gan import build_gan, init_state
from jaxgan.run.loop import train_and_evaluate

from tests.conftest import FASHION_CONFIG, REPO


def _train(workdir, overrides, resume=False):
    config = load_config(FASHION_CONFIG, overrides)
    return train_and_evaluate(config, workdir, resume=resume, progress=False)


def _final_state(workdir, overrides):
    config = load_config(FASHION_CONFIG, overrides)
    gan = build_gan(config, (28, 28, 1))
    checkpointer = Checkpointer(Path(workdir) / "checkpoints")
    state, meta = checkpointer.restore(init_state(gan, config.seed))
    checkpointer.close()
    return state, meta


def test_smoke_run_leaves_a_complete_run_folder(tmp_path, tiny_overrides):
    summary = _train(tmp_path / "run", tiny_overrides + ["train.max_steps=30"])
    run = tmp_path / "run"
    assert summary["step"] == 30 and summary["finished"]
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [5, 10, 15, 20, 25, 30]  # exact log_every boundaries
    for line in lines:
        assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(line)
        assert all(np.isfinite(line[k]) for k in ("d_loss", "g_loss", "d_real", "d_fake"))
        assert 0 < line["d_real"] < 1 and 0 < line["d_fake"] < 1
    assert sorted(p.name for p in (run / "samples").glob("step_*.png")) == [
        "step_0000010.png", "step_0000020.png", "step_0000030.png"]
    for name in ("loss_curves.png", "real_vs_fake.png", "samples/progress.gif", "config.yaml", "summary.json"):
        assert (run / name).stat().st_size > 0, name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == [10, 20, 30]
    resolved = load_config(run / "config.yaml")
    assert resolved.train.max_steps == 30 and resolved.train.batch_size == 20
    # where the wall time went, each phase apart (see jaxgan.run.clock)
    written = json.loads((run / "summary.json").read_text())
    # no upper bounds: startup_s counts from the process's start, here pytest's, and no figure
    # may depend on the machine's speed
    assert written["startup_s"] > 0 and written["compile_s"] > 0 and written["closing_s"] > 0
    assert written["first_dispatch_s"] <= written["train_s"]


def test_training_moves_both_networks(tmp_path, tiny_overrides):
    overrides = tiny_overrides + ["train.max_steps=10"]
    _train(tmp_path / "run", overrides)
    trained, meta = _final_state(tmp_path / "run", overrides)
    fresh = init_state(build_gan(load_config(FASHION_CONFIG, overrides), (28, 28, 1)), 0)
    for net in ("g", "d"):
        before = jax.tree.leaves(getattr(fresh, net).params)
        after = jax.tree.leaves(getattr(trained, net).params)
        assert all(not np.array_equal(a, b) for a, b in zip(before, after)), net
    assert meta == {"recipe": "gan_fashion_mnist", "step": 10, "epoch": 0, "batch_in_epoch": 10,
                    "image_shape": [28, 28, 1]}


def test_resume_gives_identical_parameters(tmp_path, tiny_overrides):
    """N steps in one go == k steps, stop, --resume, N-k steps (bitwise, CPU)."""
    # 43 steps cross an epoch boundary (20 steps an epoch) and end off every interval.
    straight = tiny_overrides + ["train.max_steps=43"]
    _train(tmp_path / "straight", straight)
    _train(tmp_path / "split", tiny_overrides + ["train.max_steps=17"])
    summary = _train(tmp_path / "split", straight, resume=True)
    assert summary["start_step"] == 17 and summary["step"] == 43
    a, _ = _final_state(tmp_path / "straight", straight)
    b, _ = _final_state(tmp_path / "split", straight)
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b) > 20
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # metrics.jsonl of the resumed run holds each step once, in order
    steps = [json.loads(l)["step"] for l in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 43


def test_refuses_to_overwrite_or_resume_the_wrong_run(tmp_path, tiny_overrides):
    _train(tmp_path / "run", tiny_overrides + ["train.max_steps=10"])
    with pytest.raises(JaxganError, match="already holds a run.*pass --resume"):
        _train(tmp_path / "run", tiny_overrides + ["train.max_steps=20"])
    with pytest.raises(JaxganError, match="different recipe: model.z_dim was 64, now 32"):
        _train(tmp_path / "run", tiny_overrides + ["train.max_steps=20", "model.z_dim=32"], resume=True)
    with pytest.raises(JaxganError, match="nothing to resume"):
        _train(tmp_path / "empty", tiny_overrides, resume=True)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "jaxgan.train", *args], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=300)


def test_cli_trains_and_resumes(tmp_path, tiny_overrides):
    sets = [a for o in tiny_overrides for a in ("--set", o)]
    first = _cli("--config", str(FASHION_CONFIG), "--workdir", str(tmp_path / "w"), *sets,
                 "--set", "train.max_steps=10", "--no-progress")
    assert first.returncode == 0, first.stderr
    assert "step 10/10" in first.stdout
    assert "epoch [1/1] step 10/10" in first.stdout  # 10 steps of a 20-step epoch: one epoch, cut short
    second = _cli("--config", str(FASHION_CONFIG), "--workdir", str(tmp_path / "w"), *sets,
                  "--set", "train.max_steps=20", "--resume", "--no-progress")
    assert second.returncode == 0, second.stderr
    assert "from its checkpoint at step 10 of 20" in second.stdout
    assert "epoch [1/1] step 20/20" in second.stdout
    assert json.loads((tmp_path / "w" / "summary.json").read_text())["start_step"] == 10


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing_config", "no such config file"),
        ("malformed_yaml", "malformed YAML"),
        ("missing_dataset", "train-images-idx3-ubyte[.gz] not found"),
        ("unknown_key", "did you mean 'train.max_steps'?"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, case, expected):
    import os

    env = dict(os.environ)
    env.pop("JAXGAN_DATA", None)
    config = str(FASHION_CONFIG)
    extra = []
    if case == "missing_config":
        config = str(tmp_path / "nope.yaml")
    elif case == "malformed_yaml":
        config = str(tmp_path / "bad.yaml")
        Path(config).write_text("name: [unclosed\n")
    elif case == "missing_dataset":
        extra = ["--set", "data.dataset=nowhere_dataset", "--set", f"data.root={tmp_path}"]
    elif case == "unknown_key":
        extra = ["--set", "train.max_step=3"]
    result = _cli("--config", config, "--workdir", str(tmp_path / "w"), *extra, env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "w" / "checkpoints").exists() or not any((tmp_path / "w" / "checkpoints").iterdir())
