"""`python -m jaxgan.compare`: both backends from one start, its outputs, and refused input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from jaxgan import compare  # noqa: E402
from jaxgan.data.idx import write_idx  # noqa: E402
from jaxgan.interop.lockstep import OUTPUTS, parted_at, snapshot_steps  # noqa: E402
from tests.conftest import FASHION_CONFIG, REPO, fashion_like_images  # noqa: E402

SAME = 1e-5  # one step from equal weights on equal inputs: float32 rounding apart at most


def _run(capsys, config: Path, out: Path, root: Path, *extra: str) -> tuple[int, str, str]:
    argv = ["--config", str(config), "--out", str(out), "--set", f"data.root={root}",
            "--set", "train.batch_size=20", "--no-progress", *extra]
    code = compare.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _digits_dir(tmp_path: Path) -> Path:
    root = tmp_path / "mnist"
    root.mkdir()
    write_idx(root / "train-images-idx3-ubyte.gz", fashion_like_images(100, seed=1))
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(100, np.uint8))
    return root


def test_fashion_compare_writes_the_three_outputs_and_starts_equal(tmp_path, fashion_dir, capsys):
    out = tmp_path / "out" / "compare"
    code, printed, err = _run(capsys, FASHION_CONFIG, out, fashion_dir, "--steps", "6", "--no-quality")
    assert code == 0, err
    for name in OUTPUTS:
        assert (out / name).is_file()
    for name in ("side_by_side.png", "losses.png", "final.png"):
        with Image.open(out / name) as picture:
            assert picture.format == "PNG" and min(picture.size) > 150
    result = json.loads((out / "compare.json").read_text())
    assert result["steps"] == 6 and result["grid_steps"] == [0, 3, 6]
    first = result["differences_until_parted"][0]
    assert first["step"] == 1 and max(first[k] for k in ("d_loss", "g_loss", "d_real", "d_fake")) < SAME
    for backend in ("jax", "torch"):
        assert len(result["metrics"][backend]["d_loss"]) == 6
        assert result["speed"][backend]["wall_s"] > 0
    assert "step" in printed and "jax" in printed and "torch" in printed


def test_maxout_dropout_masks_reach_torch(tmp_path, capsys):
    """Seed 004's D has dropout: without jaxgan's masks handed over, step 1 would differ."""
    out = tmp_path / "maxout"
    code, _, err = _run(capsys, REPO / "configs" / "gan_maxout_mnist.yaml", out, _digits_dir(tmp_path),
                        "--steps", "2", "--no-quality")
    assert code == 0, err
    first = json.loads((out / "compare.json").read_text())["differences_until_parted"][0]
    assert max(first[k] for k in ("d_loss", "g_loss", "d_real", "d_fake")) < SAME


@pytest.mark.parametrize("extra, expected", [
    (["--steps", "0"], "--steps must be at least 1, got 0"),
    (["--num-samples", "1"], "--num-samples must be at least 2, got 1"),
    (["--torch-threads", "0"], "--torch-threads must be at least 1, got 0"),
    (["--grid", "0"], "--grid must be 1 to 1024 images, got 0"),
    (["--set", "train.batch_size=zero"], "train.batch_size"),
])
def test_bad_input_is_one_line(tmp_path, fashion_dir, capsys, extra, expected):
    code, _, err = _run(capsys, FASHION_CONFIG, tmp_path / "out", fashion_dir, *extra)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err


def test_out_that_is_a_file_or_holds_outputs_is_refused(tmp_path, fashion_dir, capsys):
    a_file = tmp_path / "taken"
    a_file.write_text("mine")
    code, _, err = _run(capsys, FASHION_CONFIG, a_file, fashion_dir, "--steps", "1")
    assert code == 2 and "is a file" in err and a_file.read_text() == "mine"
    out = tmp_path / "out"
    out.mkdir()
    (out / "losses.png").write_text("mine")
    code, _, err = _run(capsys, FASHION_CONFIG, out, fashion_dir, "--steps", "1")
    assert code == 2 and "already exists" in err and "--force" in err
    assert (out / "losses.png").read_text() == "mine" and not (out / "compare.json").exists()


def test_parted_at_is_the_first_step_past_the_tolerance():
    diffs = [{"d_loss": 0.0}, {"d_loss": 5e-4}, {"d_loss": 2e-3}, {"d_loss": 0.0}]
    assert parted_at(diffs, 1e-3) == 3
    assert parted_at(diffs[:2], 1e-3) is None


def test_snapshot_steps_start_and_end():
    assert snapshot_steps(60) == [0, 6, 30, 60]
    assert snapshot_steps(1) == [0, 1]
